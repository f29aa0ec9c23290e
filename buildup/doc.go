// Package buildup runs the paper's build-up rule for AlterNet (Park & Kim,
// ICLR 2022, §4, Fig. 11 and 12a) as an algorithm: start from a
// convolutional network and replace its convolutional blocks by MSA blocks
// one at a time, from the end, keeping a replacement only when it helps.
//
// The rule as implemented (Run):
//
//  1. Score the starting pattern (the convolutional baseline): train it
//     once per seed on a fixed budget, measure validation accuracy.
//  2. Work on the last stage. Its candidate is the current pattern with
//     one C block made an M block: the last C block of the stage that is
//     not its first block and has no M block next to it, so that
//     replacements alternate from the end (CCCC → CCCM → CMCM).
//  3. Score the candidate with the same seeds. Keep it if its mean
//     accuracy beats the current pattern's by more than Z standard errors
//     of the difference (the seed-to-seed noise: the standard deviation
//     over seeds, pooled over every pattern scored so far). Kept: it is
//     the current pattern, and the same stage is tried again. Not kept:
//     move to the end of the previous stage.
//  4. A stage without a free slot is also left for the previous one. Stop
//     before the first stage allowed (MinStage), or after MaxTrials
//     candidates.
//
// "More heads and wider MSAs in later stages" is the preset's part: an MSA
// block in stage s has that stage's head count (doubling from stage to
// stage in the presets) and width.
//
// Every score is journaled as it arrives (one line per pattern and seed),
// so a stopped run resumes where it stopped; decisions are replayed from
// the journal and come out the same. The package is pure Go: the caller
// supplies the training (an Evaluator), which tests replace by a function.
package buildup
