"""Settings and wiring: where the deployment's GOVSIGN_* settings become objects. Only the faces import it."""
