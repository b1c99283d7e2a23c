"""The README's sample report is what the code prints (`make readme-sample` rewrites it): counts,
signatures per node, failovers, latency figures, checks and the trace hash; not wall time."""

from __future__ import annotations

from tests import readme_sample


def test_the_readme_sample_matches_the_run() -> None:
    shown = readme_sample.deterministic(readme_sample.current())
    printed = readme_sample.deterministic(readme_sample.render())
    assert shown == printed, (
        "README.md's sample report differs from what `cosigner-ha run` prints now; run `make readme-sample`"
    )


def test_the_mask_hides_only_wall_time() -> None:
    line = "│ seed 42 · 6h simulated in 12.74 s wall (1,695× real time) · trace fcd69a310c43 │"
    assert (
        readme_sample.deterministic(line) == "│ seed 42 · 6h simulated in (wall time) · trace fcd69a310c43 │"
    )
    assert readme_sample.deterministic("│ nitro-a │ 269 │") != readme_sample.deterministic(
        "│ nitro-a │ 270 │"
    )
