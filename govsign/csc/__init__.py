"""Remote signing over the Cloud Signature Consortium API (CSC 1.0.4 and 2.0), on the activation module.

Clients such as pyHanko's CSCSigner authorise hashes with the holder's PIN and get raw signatures back;
the keys never leave the HSM unwrapped and sign only under the holder's SAD (docs/SOLE-CONTROL.md).
"""

from govsign.csc.routes import router

__all__ = ["router"]
