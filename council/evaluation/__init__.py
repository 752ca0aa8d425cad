"""Does the council beat one model? The app's compare rounds and `council eval` measure it.

`stats.py` holds the figures both report (win rates with intervals, length control, accuracy).
"""
