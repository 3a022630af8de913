"""Job figures as a Prometheus node-exporter textfile (`metrics.prom`), so an existing Prometheus / Grafana setup
charts and alerts on the jobs without new code: point the node exporter's --collector.textfile.directory at
the folder, or copy the file there. Written atomically (temp file, then rename), as the collector requires.

Written by hand rather than with prometheus_client's registry: a dozen gauges, one file, no dependency; the
tests parse it with prometheus_client's own text parser.
"""
import re

from pipelines.storage import files

_NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')


def _escape(value):
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def textfile(prefix, gauges):
    """`gauges`: (name, help, value) or (name, help, value, labels dict) -> the exposition text. A name
    may repeat with other labels (one HELP and TYPE line for it)."""
    lines, described = [], set()
    for gauge in gauges:
        name, help_text, value = gauge[:3]
        labels = gauge[3] if len(gauge) > 3 else {}
        full = f'{prefix}_{name}'
        if not _NAME.match(full):
            raise ValueError(f'not a Prometheus metric name: {full!r}')
        if full not in described:
            lines += [f'# HELP {full} {help_text}', f'# TYPE {full} gauge']
            described.add(full)
        label_text = ','.join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        number = repr(float(value)) if not isinstance(value, (bool, int)) else str(int(value))
        lines.append(f'{full}{{{label_text}}} {number}' if label_text else f'{full} {number}')
    return '\n'.join(lines) + '\n'


def write(path, prefix, gauges):
    files.write_text(path, textfile(prefix, gauges))


def read_gauge(path, name):
    """The value of the unlabelled gauge `name` in a textfile written here, or None (no file, no gauge)."""
    try:
        text = files.read_text(path)
    except (OSError, IOError):
        return None
    found = re.search(rf'^{re.escape(name)} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None
