// Package meta is what describes a model without building it: its spec
// (preset name, family, configuration), the kinds of its layers and
// parameters, and its checkpoints: the JSON sidecar, the reference to one
// on a command line ("label=path"), the label it gets, and what it records
// of the training that made it. It needs no libtorch, so programs that
// only read results (cmd/report) use it without cgo; package models
// re-exports its types and builds the models.
//
// # Checkpoint references
//
// Every command takes checkpoints the same way (ParseRef, Resolve): an
// argument is "path" or "label=path", where path is a checkpoint's JSON
// sidecar, its .safetensors weights, their common base path, or a run
// folder of cmd/train (its final.json). A label names the checkpoint in
// tables, legends and, for the commands that write one folder or file per
// checkpoint, in file names: it cannot contain a path separator and cannot
// be "." or "..", so no label writes outside the output folder. A
// checkpoint without a label is named after its model, then model and
// training phase when several share a model, then with a number when even
// those clash (Resolve).
//
// # Training record and weight decay
//
// A checkpoint written by cmd/train records its training configuration;
// Checkpoint.Training reads the parts the analyses use: the data set and
// training subset, the augmentation and the weight decay. A checkpoint
// that records no weight decay (one made elsewhere) is taken to have none:
// DefaultWeightDecay is 0, so no L2 term is added that the checkpoint does
// not state. The analyses' --wd flags set it explicitly.
//
// # Other kinds of models
//
// A preset's family comes from the preset table (PresetFamily); a model
// that is not a preset (a TorchScript module with a JSON sidecar, say)
// records its family in its spec, and fits the same references, labels and
// training record.
package meta
