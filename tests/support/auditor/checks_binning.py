"""Binning checks (SECURITY.md §13): exact per-bin sums, shuffled, minimum rows, WOE."""

from __future__ import annotations

from collections import Counter

import numpy as np

from crypto.binsums import open_sums
from protocols.binning.exchange import RowLayout
from protocols.binning.woe import SMOOTHING
from protocols.messages import BinResult, BinSetup, BinSums
from tests.support.auditor.context import AuditContext
from vfl.steps.binning import BinningStep, binning_columns

Bins = list[tuple[tuple[int, int], ...]]  # per feature: its bins' (rows, events)


class BinningChecks(AuditContext):
    """Binning checks, mixed into :class:`Audit`."""

    # 9. binning: the host's shuffled per-bin sums and the guest's answer ---------------
    def check_binning(self) -> list[str]:
        """For every binning step and host: ``BinSetup`` carries the job's public values
        (rows, no weights, the step's ``min_bin_rows`` and no noise); ``BinSums``
        decrypts (guest's key, the public layout) to exactly the per-bin row counts and
        label sums of the host's own bins, recomputed in plaintext from its file and the
        guest's labels, as a set of features of sets of bins, *not* in the host's own
        order; every non-empty bin holds at least ``min_bin_rows`` rows; and
        ``BinResult`` returns, in the order the host sent, its events, non-events, the
        WOE of the formula (smoothing 0.5 over the non-empty bins; an empty bin's WOE is
        0) and the IV."""
        problems: list[str] = []
        self.stats["binning bins checked"] = 0
        steps = [i for i, s in self.steps.items() if isinstance(s, BinningStep)]
        if not steps:
            return ["no binning step"]
        guest = self.job.guest
        labels = self.truth.parties[guest.name].aligned
        assert labels is not None and labels.labels is not None
        y = labels.labels.astype(np.int64)
        for index in steps:
            config = self.steps[index]
            assert isinstance(config, BinningStep)
            for host in self.job.hosts:
                problems += self._check_host(index, config, host.name, y)
        return problems

    def _check_host(self, index: int, config: BinningStep, host: str, y: np.ndarray) -> list[str]:
        problems: list[str] = []
        on_step = [w for w in self.wire if w.step == index]
        setups = [
            w.message for w in on_step if isinstance(w.message, BinSetup) and w.receiver == host
        ]
        sums = [w.message for w in on_step if isinstance(w.message, BinSums) and w.sender == host]
        results = [
            w.message for w in on_step if isinstance(w.message, BinResult) and w.receiver == host
        ]
        if (len(setups), len(sums), len(results)) != (1, 1, 1):
            return [f"step {index}: not one BinSetup, BinSums and BinResult for {host}"]
        setup, sent, result = setups[0], sums[0], results[0]
        settings = config.settings(host)
        public = {
            "rows": len(y),
            "weighted": False,
            "min_bin_rows": settings.min_bin_rows,
            "noise_epsilon": 0.0,
        }
        for name, value in public.items():
            if getattr(setup, name) != value:
                problems.append(
                    f"{setup.describe()}: {name} = {getattr(setup, name)!r}, not {value!r}"
                )
        # the host's own bins, in its own order, from its file and the guest's labels
        from vfl.tables.binning_model import prepare_bins

        party = self.job.party(host)
        aligned = self.truth.parties[host].aligned
        assert aligned is not None
        bins, codes = prepare_bins(binning_columns(party, aligned, config), settings)
        own: Bins = []
        for j, feature in enumerate(bins):
            rows = np.bincount(codes[:, j], minlength=feature.n_bins)
            events = np.bincount(codes[:, j], weights=y, minlength=feature.n_bins)
            own.append(tuple(zip(rows.tolist(), events.astype(np.int64).tolist(), strict=True)))
        # what the guest received
        private = self.private_key(setup.public_key.n)
        if private is None:
            return [*problems, f"{sent.describe()}: no private key recorded for the guest's key"]
        sizes = [int(b) for b in sent.bins.tolist()]
        counts = [int(c) for c in sent.counts.tolist()]
        layout = RowLayout.of(len(y), setup.weighted, setup.rows_per_ciphertext)
        opened = [
            layout.bin_sum(value)
            for value in open_sums(private, sent.sums, len(counts), layout.sum_bits)
        ]
        received: Bins = []
        start = 0
        for size in sizes:
            pairs = zip(counts[start : start + size], opened[start : start + size], strict=True)
            received.append(tuple(pairs))
            start += size
        self.stats["binning bins checked"] += len(counts)
        if Counter(frozenset(Counter(f).items()) for f in received) != Counter(
            frozenset(Counter(f).items()) for f in own
        ):
            problems.append(
                f"{sent.describe()}: the bins' rows and sums are not the host's per-bin counts"
            )
        if received == own and any(len(set(f)) > 1 for f in own):
            problems.append(f"{sent.describe()}: the bins arrive in the host's own order")
        small = [c for c in counts if 0 < c < settings.min_bin_rows]
        if small:
            problems.append(f"{sent.describe()}: bins of {small} rows (< {settings.min_bin_rows})")
        # the answer, in the order the host sent
        events = np.array(opened, dtype=np.float64)
        expected = {"events": events, "non_events": np.array(counts) - events}
        for name, value in expected.items():
            if not np.array_equal(getattr(result, name), value):
                problems.append(f"{result.describe()}: {name} are not the decrypted sums")
        start = 0
        for position, size in enumerate(sizes):
            e, n = events[start : start + size], expected["non_events"][start : start + size]
            filled = (e + n) > 0  # an empty bin is about no one: WOE 0, not smoothed
            e, n = e[filled], n[filled]
            share_e = (e + SMOOTHING) / (e.sum() + SMOOTHING * len(e))
            share_n = (n + SMOOTHING) / (n.sum() + SMOOTHING * len(n))
            woe = np.zeros(size)
            with np.errstate(invalid="ignore", divide="ignore"):  # planted counts: NaN
                woe[filled] = np.log(share_e / share_n)
            if not np.allclose(result.woe[start : start + size], woe, rtol=0, atol=1e-9):
                problems.append(
                    f"{result.describe()}: feature {position}'s WOE is not the formula's"
                )
            iv = float(np.sum((share_e - share_n) * woe[filled]))
            if not abs(float(result.iv[position]) - iv) <= 1e-9:
                problems.append(
                    f"{result.describe()}: feature {position}'s IV is not the formula's"
                )
            start += size
        if result.noise_sigma != 0.0:
            problems.append(f"{result.describe()}: noise_sigma {result.noise_sigma} without noise")
        return problems
