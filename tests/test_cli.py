"""Console scripts: bad input ends in one line naming it and exit status 2, not a traceback."""

import os
import subprocess
import sys


def test_console_scripts_report_bad_input_in_one_line():
    code = ("import sys; from vlm2_agent.cli.train_policy import main; "
            "sys.argv = ['vlm2-train-policy', 'seed=abc', 'logger=none']; main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    assert out.returncode == 2
    assert "error: invalid literal for int() with base 10: 'abc'" in out.stderr and "Traceback" not in out.stderr
