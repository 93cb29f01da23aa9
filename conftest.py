"""Collection rules for the whole checkout (pytest reads this before collecting doctests in switchsim/).

Without torch (the optional ``switchsim[torch]`` extra), the modules of `switchsim.torch` that import it
are not collected for doctests; the torch tests skip and say why (tests/torch/).
"""

import importlib.util

collect_ignore_glob = []
if importlib.util.find_spec("torch") is None:
    collect_ignore_glob = ["switchsim/torch/hook.py", "switchsim/torch/aggregation.py", "switchsim/torch/trace.py",
                           "switchsim/torch/models.py", "tests/torch/rank_jobs.py"]
