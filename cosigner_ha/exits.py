"""The exit statuses every command shares, defined once so that scripts and CI can rely on them.

0 and 1 say how the run went, 2 says the command could not start on what it was given (a bad input, a
port in use, a missing certificate: the message says what and where), and a stopped command reports
the signal as a shell would (128 + its number). It imports nothing of ours, so that every part can use it.
"""

from __future__ import annotations

import signal

#: Success: the run met its invariants and expectations, the check found nothing.
EXIT_OK = 0
#: The run finished and something failed: an invariant, an expectation, a finding of a check.
EXIT_FAILED = 1
#: The command could not start on what it was given: what was wrong and where is on standard error.
EXIT_BAD_INPUT = 2
#: cosigner-ha itself failed (a bug, not the input): standard error says what broke and where the details
#: were written. 70 is the BSD sysexits EX_SOFTWARE.
EXIT_INTERNAL = 70
#: Stopped by Ctrl-C (SIGINT) or by SIGTERM, as a shell reports them.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
