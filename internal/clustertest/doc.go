// Package clustertest holds the test of vitprobe's cluster path on a real
// Slurm cluster: it starts a single-node cluster on this machine
// (scripts/slurm-local.sh), submits the landscape and Hessian job arrays and
// their merge jobs through scripts/slurm-submit.sh, and checks that the
// merged outputs equal those of one process, byte for byte. It has no code
// of its own outside the test.
package clustertest
