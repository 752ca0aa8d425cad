"""Extensions created unbound here and bound to an app in `create_app`."""

from flask_socketio import SocketIO

socketio = SocketIO(async_mode="threading")
