"""An auditor of whole-job transcripts against the declared leakage table.

:data:`DECLARED` is SECURITY.md §9 to §12 in machine-readable form: for every message
kind, the roles (in shared mode, the hosts' positions: partner or other host) that may
send it to which roles, in which training mode and for which ``purpose``, and for every
payload field whether it is a ciphertext (under whose key), a masked vector or sealed
shares the receiver decrypts, a public key, or a plaintext and what it is declared to
reveal.

:class:`Audit` takes the messages of a job as recorded by every party (in memory from
``simulate_job(recorder=...)`` or from ``vfl run --transcript`` files), decodes every
frame as its receiver did, pairs each frame sent with the frame received, and checks
each message against the table and against the parties' real data:

* every message is of a declared kind, on a declared route, with the declared fields;
* no plaintext id, id hash or hash-to-curve point (and no point under the receiver's
  own PSI secret), no feature value and no label vector appears in any frame or
  decoded payload value; for KKRT-PSI no code word ``C(id, h)`` or raw cuckoo bins
  anywhere, and no guest ``t`` row, guest PRF value ``H(j, t[j])`` or value
  ``F(j, id)`` the host can evaluate itself in anything a host receives;
* KKRT-PSI messages have exactly the protocol's kinds, order and sizes, base-OT points
  are valid and distinct, OT-extension columns look uniform, and host PRF values
  match a value the guest can compute only for the ids the guest holds;
* VOLE-PSI messages have exactly the protocol's kinds, order and sizes (OT blocks,
  VOLE corrections per segment, OKVS chunks with one 16-byte key, 12-byte tags), base
  OTs and columns as for KKRT, corrections and OKVS cells look uniform and never repeat
  a 16-byte value; from the recorded VOLEs and OKVS: ``B = C + A Delta``, the cells
  are exactly ``A + P`` (never ``P``), each host's tags are exactly those of its ids and
  equal a tag the guest computes only for the ids it holds; no ``H(x)``, OKVS digest or
  ``Delta`` anywhere, no cell of ``P``, ``Decode(C, x)`` or guest tag in anything a host
  receives, no untagged host value in anything the guest receives;
* every ciphertext is under the declared owner's announced key, in ``(0, n**2)``,
  coprime to ``n`` and not a trivial encryption;
* everything a party decrypts for another one is uniformly masked, hides the true
  gradient or loss, and unmasks to exactly the values a plaintext replay computes;
* no ciphertext and no Paillier obfuscator appears twice in the whole job;
* public vector metadata (exponent, bound, length) does not depend on the data, and
  every masked gradient is packed with the layout public values alone give (width,
  batch size, hosts, key), so its ciphertext count never depends on the data;
* fields declared ``only_with`` a stopping rule are empty without it:
  ``LrEpochEnd.weight_change`` is 0.0 unless ``convergence = "weights"``,
  ``validation_scores`` empty without early stopping (checked on the step's
  ``LrSetup``, whose ``convergence`` and ``early_stopping`` match the job);
  ``LrHostSetup.gradient_bits`` is exactly the bit length of the host's largest
  ``|round(x * 2**16)|``;
* shared mode (§12, ``checks_shared``): every sealed value opens with the public
  layout to ``x + R``, R the masks the sender's ``reshare`` drew for the public bound
  ``b`` of the message's purpose, uniform in ``[0, 2**(b + 40))``, and ``|x| < 2**b``;
  every mask drawn is distinct; every plain share is a mask the sender drew (initial
  splits, another host's kept score share), a function of one (P's residual share) or
  the other share of a declared output (the epoch's loss, the final weights); and an
  exact replay of the shared arithmetic from the data and the secrets reproduces every
  weight share sent, every partial score, the powers, the sigmoid, the residual shares,
  every gradient and the model files' weights;
* binning (§13, ``checks_binning``): ``BinSums`` decrypts to exactly the host's per-bin
  row counts and label sums (recomputed from its file and the guest's labels), never in
  the host's own order, every non-empty bin of at least ``min_bin_rows`` rows, and
  ``BinResult`` returns those counts and the formula's WOE and IV in the host's order;
* secure sum: the partials go around the ring, each decrypts to the prefix sum, and
  every hop is re-randomised (what a contributor sends divided by what it received
  is never ``1 + v n``), including the hops between contributors.

The secrets the audit needs (Paillier private keys, PSI scalars, masks, KKRT's OPRF
states, VOLE-PSI's VOLEs and the guest's OKVS, the seed of the guest's secret initial weights, which the plaintext replay
starts from) are recorded by wrapping the real functions that make them
(:func:`record_secrets`); in separate processes :func:`main` does the same around
``vfl run``.

The modules, by concern: ``declared`` (the table), ``security_md`` (what SECURITY.md
declares), ``secret_log`` (recording the secrets), ``pairing`` (transcripts paired and
decoded), ``values`` (searching values and bytes), ``truth`` (the parties' data and a
plaintext replay), ``context`` (what every check works from), the checks per protocol
``checks_common``, ``checks_psi``, ``checks_lr``, ``checks_shared``, ``checks_sum`` and
``checks_binning`` (mixed into
``audit.Audit``), and ``runs`` (the example jobs, ready to audit).  This package
exports the names the tests use.
"""

from tests.support.auditor.audit import Audit
from tests.support.auditor.checks_lr import conditional_field_problems
from tests.support.auditor.declared import DECLARED, FORMS, LR
from tests.support.auditor.pairing import Wire, pair_transcripts, recorder_entries
from tests.support.auditor.runs import (
    prepare_binning_job,
    prepare_example,
    prepare_psi_job,
    prepare_secure_sum_job,
    prepare_shared_job,
)
from tests.support.auditor.secret_log import SecretLog, main, record_secrets
from tests.support.auditor.security_md import (
    ROOT,
    SECURITY_MD,
    security_md_field_gaps,
    security_md_gaps,
    security_md_message_names,
    security_md_routes,
    security_md_shared_gaps,
    security_md_shared_routes,
)
from tests.support.auditor.values import distinctive

__all__ = [
    "DECLARED",
    "FORMS",
    "LR",
    "ROOT",
    "SECURITY_MD",
    "Audit",
    "SecretLog",
    "Wire",
    "conditional_field_problems",
    "distinctive",
    "main",
    "pair_transcripts",
    "prepare_binning_job",
    "prepare_example",
    "prepare_psi_job",
    "prepare_secure_sum_job",
    "prepare_shared_job",
    "record_secrets",
    "recorder_entries",
    "security_md_field_gaps",
    "security_md_gaps",
    "security_md_message_names",
    "security_md_routes",
    "security_md_shared_gaps",
    "security_md_shared_routes",
]
