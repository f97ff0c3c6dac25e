"""The audit: every check of one job's transcripts."""

from __future__ import annotations

from tests.support.auditor.checks_binning import BinningChecks
from tests.support.auditor.checks_common import CommonChecks
from tests.support.auditor.checks_lr import LrChecks
from tests.support.auditor.checks_psi import PsiChecks
from tests.support.auditor.checks_shared import SharedChecks
from tests.support.auditor.checks_sum import SumChecks


class Audit(CommonChecks, PsiChecks, LrChecks, SharedChecks, SumChecks, BinningChecks):
    """Every check of one job's transcripts; each ``check_*`` returns its violations."""
