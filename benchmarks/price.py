"""The price of a night per million items (docs/cluster.md, "What a night costs"), from what benchmarks/scale_nightly.py
measured: vCPU-seconds, GiB-seconds of memory and (where measured on Flink) bytes shuffled, per item.

    .venv/bin/python benchmarks/price.py --results /work/bench-scale/scale_nightly.json

For each measured night (the largest catalog measured per runner and kind of night) it scales the per-item figures
to 1,000,000 items and prices them at Dataflow's batch list prices, which Beam ships for its own load tests
(apache_beam/testing/load_tests/dataflow_cost_consts.py: us-central1, from https://cloud.google.com/dataflow/pricing,
as of Beam 2.63, February 2025), two ways:
- used: the CPU time and memory the processes used (a worker fleet packed perfectly: a floor);
- held: the machine that ran it, 2 vCPUs with n1-standard-2's 3.75 GB each, for the night's wall time (what a
  fleet of such workers running as this one did would be billed).
Shuffle is billed per GB shuffled: each night kind takes the bytes per item that Flink's operators wrote to each
other on that kind of night (scale_nightly.py reads them from Flink's REST metrics; the pipeline is the same on
every runner), or `--shuffle-bytes-per-item`; without either it is left out and said so. Each runner and night
is priced from its largest measured catalog that has every figure (memory was not sampled in the first runs).
The vCPU-hours are also what a cluster of your own
spends. Left out: worker start-up and the job's fixed minutes, autoscaling's ramp, persistent disk, GPUs, egress,
and the model's training.
"""
import argparse
import json

from apache_beam.testing.load_tests import dataflow_cost_consts as prices

MILLION = 1_000_000
HELD_VCPUS, GB_PER_VCPU = 2, 3.75  # the measuring machine, priced as n1-standard-2
GIB = 2 ** 30 / 1e9  # GB per GiB


def priced(figures, shuffle_bytes_per_item=None):
    """A measured night's figures (scale_nightly.py) -> its price per million items, as a dict."""
    per_item = MILLION / figures['items']
    vcpu_h = figures['cpu_s'] * per_item / 3600
    gb_h = figures.get('gib_s', 0) * GIB * per_item / 3600
    held_vcpu_h = HELD_VCPUS * figures['wall_s'] * per_item / 3600
    shuffle_gb = shuffle_bytes_per_item * MILLION / 1e9 if shuffle_bytes_per_item else 0.0
    shuffle_usd = shuffle_gb * prices.SHUFFLE_PER_GB_BATCH
    return {
        'vcpu_hours': round(vcpu_h, 2), 'gb_hours': round(gb_h, 2), 'held_vcpu_hours': round(held_vcpu_h, 2),
        'shuffle_gb': round(shuffle_gb, 2) if shuffle_bytes_per_item else None,
        'usd_used': round(vcpu_h * prices.VCPU_PER_HR_BATCH + gb_h * prices.MEM_PER_GB_HR_BATCH + shuffle_usd, 3),
        'usd_held': round(held_vcpu_h * (prices.VCPU_PER_HR_BATCH + GB_PER_VCPU * prices.MEM_PER_GB_HR_BATCH)
                          + shuffle_usd, 3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--results', required=True, help="benchmarks/scale_nightly.py's scale_nightly.json")
    parser.add_argument('--shuffle-bytes-per-item', type=float,
                        help="bytes shuffled per item (default: Flink's, measured on the same kind of night)")
    args = parser.parse_args(argv)
    with open(args.results, encoding='utf-8') as f:
        results = json.load(f)
    largest, shuffled = {}, {}
    for key, figures in results.items():
        runner, night = key.split(' ')[1:]
        if figures.get('shuffle_bytes_per_item'):
            shuffled[night] = figures['shuffle_bytes_per_item']
        rank = (bool(figures.get('gib_s')), figures['items'])
        if rank >= largest.get((runner, night), (False, 0, None))[:2]:
            largest[runner, night] = (*rank, figures)
    print(f'Dataflow batch list prices (Beam {prices.__name__}): vCPU ${prices.VCPU_PER_HR_BATCH}/h, memory '
          f'${prices.MEM_PER_GB_HR_BATCH}/GB-h, shuffle ${prices.SHUFFLE_PER_GB_BATCH}/GB; per 1,000,000 items')
    print('| runner | night | measured at | vCPU-h used | GB-h used | vCPU-h held | shuffle GB | USD used | USD held |')
    print('|' + '---|' * 9)
    for (runner, night), (_, _, figures) in sorted(largest.items()):
        p = priced(figures, args.shuffle_bytes_per_item or shuffled.get(night))
        shuffle = p['shuffle_gb'] if p['shuffle_gb'] is not None else 'not measured'
        print(f'| {figures["runner"]} | {night} | {figures["items"]:,} items | {p["vcpu_hours"]} | {p["gb_hours"]} | '
              f'{p["held_vcpu_hours"]} | {shuffle} | {p["usd_used"]} | {p["usd_held"]} |')


if __name__ == '__main__':
    main()
