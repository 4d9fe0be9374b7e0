# Spins past the call's time limit: the call must end with TIMEOUT close to it.
while :; do :; done
