"""Explore a dataset before training on it: ``wavetag explore SRC|PACK -o REPORT``.

    >>> from wavetag.explore import explore
    >>> result = explore("packs/sc12", "reports/sc12", bands="0-500,500-2000,2000-8000")  # doctest: +SKIP
    >>> [leak.group for leak in result.leaks]          # speakers found in more than one split
    >>> [(d.path_a, d.path_b) for d in result.cross_split_duplicates]
    >>> result.paths.report_html

The report (``report.html``, ``report.md``, ``explore.json``, ``clips.csv``, ``spectra.npz``,
``plots/*.png``) shows class counts per split; duration, sample-rate, level and silence
histograms; mean spectrum and mean log-spectrogram per class; band-energy violins; a PCA of the
clips' log spectra with the outliers listed by file; exact and near duplicates (cross-split ones
flagged); and speakers/groups found in more than one split.
"""

from wavetag.explore.duplicates import DuplicatePair
from wavetag.explore.leakage import Leak, LeakCheck
from wavetag.explore.report import ExplorePaths
from wavetag.explore.run import ExploreResult, Outlier, explore

__all__ = ["DuplicatePair", "ExplorePaths", "ExploreResult", "Leak", "LeakCheck", "Outlier", "explore"]
