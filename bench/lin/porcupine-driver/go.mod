module labrys.dev/bench/porcupine-driver

go 1.16

require github.com/anishathalye/porcupine v1.3.0

// A Porcupine checkout next to the repository; vs-porcupine.sh builds a copy of this folder
// with the replacement pointed at $PORCUPINE_DIR (go mod edit -replace).
replace github.com/anishathalye/porcupine => ../../../../porcupine
