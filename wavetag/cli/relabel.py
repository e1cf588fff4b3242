"""``wavetag relabel PACK --embeddings E -o OUT``: label spreading from verified to unverified clips."""

from __future__ import annotations

from pathlib import Path

import typer

from wavetag.cli.app import app, console


@app.command("relabel")
def relabel_command(
    pack: Path = typer.Argument(
        ..., help="Pack directory made by 'wavetag prepare' (single-label, with verified and unverified clips)."
    ),
    embeddings: Path = typer.Option(
        ..., "--embeddings", "-e", help="Embeddings of every clip of PACK (.npy from 'wavetag embed')."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Relabelled pack to write (samples hard-linked); its report goes to OUT/relabel/."
    ),
    kernel: str = typer.Option(
        "knn",
        "--kernel",
        help="Graph: knn (nearest clips) or rbf (exp(-gamma d²) on normalised embeddings). [default: knn]",
        show_default=False,
    ),
    gamma: float = typer.Option(
        20.0, "--gamma", help="rbf width; squared distances lie in [0, 4]. [default: 20]", show_default=False
    ),
    neighbors: int = typer.Option(7, "--neighbors", help="knn: neighbours per clip. [default: 7]", show_default=False),
    alpha: float = typer.Option(
        0.2,
        "--alpha",
        help="Share of its label a verified clip may give up, in (0, 1). [default: 0.2]",
        show_default=False,
    ),
    max_iter: int = typer.Option(30, "--max-iter", help="Spreading iterations. [default: 30]", show_default=False),
    min_confidence: float = typer.Option(
        0.5,
        "--min-confidence",
        help="Probability a label needs to replace the given one, in [0, 1]. [default: 0.5]",
        show_default=False,
    ),
    label_noise: str = typer.Option(
        "auto",
        "--label-noise",
        help="Share of wrong unverified labels: the given label counts as evidence right with probability 1 - this; "
        "auto = estimated from held-out verified clips; none = ignore the given labels (plain spreading). [default: "
        "auto]",
        show_default=False,
    ),
    groups: str | None = typer.Option(
        None,
        "--groups",
        help="Spread only within groups of classes: NAME=label,label;NAME=... (classes in no group form one more). "
        "[default: one group]",
    ),
    tsne_points: int = typer.Option(
        2000,
        "--tsne-points",
        help="Clips in the t-SNE picture (a seeded sample); 0 = no picture. [default: 2000]",
        show_default=False,
    ),
) -> None:
    """Spread the verified labels of the train split to its unverified clips over an embedding
    graph (scikit-learn LabelSpreading); report per class how many were confirmed, changed or
    left uncertain; write the relabelled pack and a t-SNE picture before/after."""
    from wavetag.semi.common import parse_label_noise
    from wavetag.semi.relabel import parse_groups, relabel, write_relabelled

    result = relabel(
        pack,
        embeddings,
        kernel=kernel,
        gamma=gamma,
        n_neighbors=neighbors,
        alpha=alpha,
        max_iter=max_iter,
        groups=parse_groups(groups),
        min_confidence=min_confidence,
        label_noise=parse_label_noise(label_noise),
    )
    written = write_relabelled(result, out, tsne_points=tsne_points)
    c = result.counts()
    console.print(
        f"{c['verified']} verified clips spread their labels to {c['confirmed'] + c['changed'] + c['uncertain']} "
        "unverified: "
        f"{c['confirmed']} confirmed, {c['changed']} changed, {c['uncertain']} uncertain"
    )
    console.print(
        f"{'class':<24}{'verified':>9}{'unverified':>11}{'confirmed':>10}{'changed':>8}{'uncertain':>10}{'gained':>7}"
    )
    for r in result.table():
        console.print(
            f"{r['label']:<24}{r['verified']:>9}{r['unverified']:>11}{r['confirmed']:>10}{r['changed']:>8}{r['uncertain']:>10}{r['gained']:>7}",
            markup=False,
        )
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    console.print(
        f"relabelled pack: {written.pack_dir}\n  report: {written.report_md}\n  per clip: {written.clips_csv}"
        + (f"\n  t-SNE: {written.tsne_png}" if written.tsne_png else "")
        + f"\n  next: wavetag train {written.pack_dir} --semi",
        markup=False,
    )
