"""Secure-sum checks: the ring, its values, a fresh obfuscator at every hop."""

from __future__ import annotations

from crypto.encoding import encode_array, encode_scalar, to_signed
from protocols.messages import SumPartial, SumResult
from tests.support.auditor.context import AuditContext
from vfl.jobs.jobfile import SecureSumStep


class SumChecks(AuditContext):
    """Secure-sum checks, mixed into :class:`Audit`."""

    # 8. secure sum: the ring, its values, a fresh obfuscator at every hop ------------------
    def check_secure_sum(self) -> list[str]:
        """The secure sum's partials go around the ring ``c_1 .. c_k`` to the guest, each
        decrypts (guest's key) to exactly the prefix sum of the contributors' vectors
        under the public bound ``i * max_abs``, and *every* hop is re-randomised: what a
        contributor sends, divided by what it received, is never ``1 + v n`` (a
        plaintext addition without a fresh obfuscator, which its two neighbours could
        compute to read its vector ``v``)."""
        problems: list[str] = []
        self.stats["secure-sum hops checked"] = 0
        steps = [i for i, s in self.steps.items() if isinstance(s, SecureSumStep)]
        if not steps:
            return ["no secure-sum step"]
        ring = [h.name for h in self.job.hosts]
        guest = self.job.guest.name
        for index in steps:
            config = self.steps[index]
            assert isinstance(config, SecureSumStep)
            partials = {
                w.sender: w
                for w in self.wire
                if w.step == index and isinstance(w.message, SumPartial)
            }
            results = [w for w in self.wire if w.step == index and isinstance(w.message, SumResult)]
            if sorted(w.receiver for w in results) != sorted(ring):
                problems.append(f"step {index}: SumResult did not reach every contributor once")
            if sorted(partials) != sorted(ring) or len(partials) != sum(
                isinstance(w.message, SumPartial) for w in self.wire if w.step == index
            ):
                problems.append(f"step {index}: not one SumPartial per contributor")
                continue
            prefix: list[int] | None = None
            for position, sender in enumerate(ring):
                w = partials[sender]
                m = w.message
                assert isinstance(m, SumPartial)
                where = m.describe()
                expected_receiver = ring[position + 1] if position + 1 < len(ring) else guest
                if w.receiver != expected_receiver:
                    problems.append(f"{where}: to {w.receiver}, not {expected_receiver}")
                key = m.partial.public_key
                private = self.private_key(key.n)
                if private is None:
                    problems.append(f"{where}: no private key recorded for the guest's key")
                    continue
                own = encode_array(self.truth.sums[sender], m.partial.exponent)
                prefix = (
                    own if prefix is None else [a + b for a, b in zip(prefix, own, strict=True)]
                )
                got = [to_signed(v, key.n) for v in private.decrypt_raw(m.partial)]
                if got != prefix:
                    problems.append(f"{where}: does not decrypt to the prefix sum up to {sender}")
                if position == 0:
                    continue
                incoming = partials[ring[position - 1]].message
                assert isinstance(incoming, SumPartial)
                n2 = key.nsquare
                for j, (before, after) in enumerate(
                    zip(incoming.partial.ciphertexts, m.partial.ciphertexts, strict=True)
                ):
                    quotient = after * pow(before, -1, n2) % n2
                    if quotient % key.n == 1:
                        problems.append(
                            f"{where}: value {j} is the incoming ciphertext times 1 + v n (not "
                            f"re-randomised): {ring[position - 1]} and {expected_receiver} "
                            f"could read {sender}'s value"
                        )
                self.stats["secure-sum hops checked"] += 1
        return problems

    def check_secure_sum_bounds(self) -> list[str]:
        """Every ``SumPartial`` claims the public bound ``i * max_abs`` (``i`` its
        contributors so far, at the vector's exponent), never one computed from the
        values: a bound travels in the clear, and ``(i - 1) * max_abs + max|v_i|``
        would give the receiver the sender's largest value."""
        problems: list[str] = []
        ring = [h.name for h in self.job.hosts]
        for w in self.wire:
            m = w.message
            if not isinstance(m, SumPartial):
                continue
            config = self.steps[w.step]
            assert isinstance(config, SecureSumStep)
            key = m.partial.public_key
            per_party, _ = encode_scalar(config.max_abs, key.n, exponent=m.partial.exponent)
            public = (ring.index(w.sender) + 1) * per_party
            if m.partial.bound != public:
                problems.append(
                    f"{m.describe()}: bound {m.partial.bound}, not the public {public} "
                    f"(the difference is {m.partial.bound - public})"
                )
        return problems
