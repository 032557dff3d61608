"""Pure policy decisions: data in, verdict out (STYLE.md rule 7).

No Flask, SQLAlchemy, Redis or werkzeug here, and no I/O beyond reading the packaged blocklist.
Times are timezone-aware and passed in by the caller.

Modules:
    result         PolicyResult, the verdict with reason codes
    account_state  AccountState enum and its legal transitions
    activation     activation window, activation codes, temporary passwords (ASVS 6.4.1)
    passwords      new-password rules and the common-password blocklist (NIST 800-63B, ASVS 6.2)
    lockout        failed-attempt throttling and temporary lockout (ASVS 6.3.1)
    dormancy       accounts unused for a tenant's period
    identity       Malaysian MSISDN and MyKad number normalisation
    tac            SMS transaction authorisation codes (ASVS 6.5, 6.6)
    step_up        OIDC acr step-up and step-down
    interaction    the interaction policy: prompts made of named checks
"""
