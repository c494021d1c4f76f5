"""FigStep (SafeBench) task hooks. The loader (official layout, sources) is vsfa_plugins/benchmarks/figstep.py;
prompts, judging and metrics are shared: vsfa_plugins/lmms/task_api.py."""

from vsfa_plugins.lmms import register
from vsfa_plugins.lmms.task_api import (  # noqa: F401  (referenced by the YAMLs as utils.<name>)
    ci95_high,
    ci95_low,
    count,
    doc_to_messages,
    doc_to_text,
    doc_to_visual,
    judge_ids,
    mean_value,
    process_results,
    rate,
    record_count,
)

# With the .pth hook switched off (VSFA_PLUGINS_DISABLE=1) and --include_path pointing here, this import is
# the explicit route: it installs our data loader before lmms-eval builds the task.
register()
