"""How fast `council eval` gets through questions on the embedded engine, and what its driver
adds beyond the generations themselves.

Each repeat runs the eval on a fresh database (nothing cached) over the first N shipped
questions with the council, the synthesizer model alone and one persona, judged by the
synthesizer model, then builds and writes the report. It prints, per repeat and as medians:

  (1) questions per minute: N / wall time of the whole eval (answers, judgements, report);
  (2) the driver's share: wall time minus the time spent inside contestants' answers and the
      judge's requests (routing included in the council's answer), over the wall time; this
      is the database, the cache, the scoring and the report. Target: at most 10%.

    .venv/bin/python -m bench.eval [--questions 6] [--repeats 3] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import print_medians
from council.commands.eval import build_contestants
from council.config import Settings
from council.db import standalone_database
from council.evaluation.questions import shipped_questions
from council.evaluation.report import build_report, write_report
from council.evaluation.runner import JudgeModel, run_eval
from council.llm import connect_backends

CONTESTANTS = "council,solo,pragmatist"


def one_run(settings: Settings, count: int) -> tuple[float, float]:
    """Questions per minute and the driver's share of the wall time, for one fresh eval."""
    backends, settings = connect_backends(settings)
    questions = shipped_questions()[:count]
    try:
        with standalone_database(settings.database_url) as sessions:
            contestants = build_contestants(CONTESTANTS, [], backends, settings, sessions)
            judge = JudgeModel(backends.synthesizer, settings, settings.synth_model)
            started = time.monotonic()
            result = run_eval(sessions, questions, contestants, judge, lambda *_: None)
            assert result is not None
            report = build_report({"judge": judge.model}, [c.name for c in contestants],
                                  result.answers, result.pairs)
            write_report(report, settings.data_dir / "report")
            wall = time.monotonic() - started
    finally:
        backends.close()
    return count / wall * 60, (wall - result.tally.model_seconds) / wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    rates, shares = [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(data_dir=Path(folder), backend="embedded",
                                num_predict=args.max_tokens, num_ctx=2048)
            rate, share = one_run(settings, args.questions)
        rates.append(rate)
        shares.append(share)
        print(f"repeat {repeat + 1}: {rate:.2f} questions/min, driver {share:.1%} of the wall "
              "time", flush=True)
    print_medians({"questions_per_minute": f"{statistics.median(rates):.2f}",
                   "driver_share": f"{statistics.median(shares):.1%}"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
