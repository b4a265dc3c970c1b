"""The certificate authority: keys in the HSM, certificates, their status and the audit log.

`ca` knows nothing of PDFs or HTTP; the faces in `govsign` call its public functions.
"""
