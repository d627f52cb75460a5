#!/usr/bin/env python3
"""Copy a trained run into a shipped model folder (models/default, models/sbr, models/bilstm-full).

Usage: ship_model.py RUN_DIR SHIPPED_DIR

Training never writes into a shipped folder (superres.runs.check_not_shipped): a maintainer trains into a run
folder of its own (make pretrained, make blog) and ships it with this script. The run's files that a model
folder ships are copied (weights, ONNX export, state, history); config.json is rewritten so that its folder
paths (dataset, scan, init_from) stay relative to the new place and still name the same folders.
"""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superres.manifest import relative_path, write_json_atomic  # noqa: E402
from superres.runs import CONFIG_NAME, HISTORY_NAME, STATE_NAME, load_config  # noqa: E402

#: What a shipped folder takes from the run (those the run has): the rest (results, plots) is written there by
#: the evaluation.
SHIPPED_FILES = ("best.keras", "best.onnx", "last.keras", STATE_NAME, HISTORY_NAME)
#: Config fields that are folders relative to the model folder.
PATH_KEYS = ("dataset_dir", "scan_dir", "init_from")


def ship(run_dir, dest):
    run_dir, dest = Path(run_dir), Path(dest)
    config = load_config(run_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, dest / name)
    for key in PATH_KEYS:
        if config.get(key):
            config[key] = relative_path(run_dir / config[key], dest)
    write_json_atomic(dest / CONFIG_NAME, config)
    print(f"shipped {run_dir} -> {dest}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ship(*sys.argv[1:])
