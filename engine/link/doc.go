// Package link emulates a network link in the style of TLEM (Rizzo et
// al., "Very high speed link emulation with TLEM"): a pipeline whose
// input stage computes, for every arriving frame, its fate and the time
// at which it may leave, and whose output stage releases frames at those
// times. This file documents the model, the part that computes fates and
// release times (Model, Config and the delay, loss and rate types); the
// pipeline is described with Pipe.
//
// # Order of decisions
//
// For the i-th arrival (i = 0, 1, ...: the number of earlier calls to
// Model.Admit), at time t_A(i) in ns with a frame of len bytes:
//
//  1. Loss. The loss model, if any, decides first. A lost packet costs
//     nothing: it is not queued and not serialized (as in netem). Fate
//     DropLoss.
//  2. Queue admission, if the link has a bandwidth limit. The queue holds
//     the packets j < i that were admitted and have not yet left the
//     link: t_L(j) > t_A(i), including the one being serialized. If one
//     more packet would exceed QueuePackets, or len more bytes would
//     exceed QueueBytes (frame lengths, no overhead), the fate is
//     DropQueue. A bandwidth-limited link with neither limit set gets
//     DefaultQueuePackets, netem's default.
//  3. Serialization (TLEM IV-B):
//     t_L(i) = max(t_L(i-1), t_A(i)) + (len+Overhead)*8/B.
//     Without a bandwidth limit t_L(i) = t_A(i) and there is no queue.
//     The arithmetic is exact: t_L is kept as whole ns plus a remainder
//     in units of 1/B ns (B in millibits per second), so nothing drifts
//     over any number of packets; the exit time used for the queue and
//     the release is t_L rounded up to the next whole ns.
//  4. Delay (TLEM IV-D): release = t_L(i) + t_D(i), where t_D is drawn
//     from the Delay distribution by inverse transform of a uniform u:
//     t_D = Quantile(u).
//  5. No reordering (TLEM's restriction): release is raised to the
//     previous packet's release if it is earlier, so releases never
//     decrease.
//
// # Time-varying bandwidth
//
// With Config.Rate, step 3 uses the schedule instead of a fixed B: the
// packet leaves at the earliest time >= max(t_L(i-1), t_A(i)) at which
// the capacity of the schedule since then covers len+Overhead bytes.
// Time 0 of the schedule is the first packet's arrival. Steps gives
// piecewise-constant bandwidths (with exact integer arithmetic across
// steps); ReadDeliveryTrace reads a mahimahi cellular trace of 1504-byte
// delivery opportunities. Both are allocation-free per packet.
//
// # Determinism
//
// Every random decision for packet i is a pure function of the seed, a
// per-decision stream constant and i: u = f(Seed, stream, i), SplitMix64
// mixing of a stream key and the counter, giving 53 random bits. The
// same seed and the same arrivals therefore give the same fates and
// release times (the tabulated distributions use floating point, so the
// last ns may differ across architectures); another seed gives different
// ones. The
// stateful loss models (Gilbert-Elliott, 4-state Markov) consume
// u(Seed, stream, i) for packet i in arrival order, so they are
// deterministic too. The delay of packet i uses its own stream and is
// drawn only for delivered packets.
//
// # Delay distributions
//
// Constant, Uniform and Exponential are sampled in closed form. Normal
// (truncated at 0: the conditional distribution given x >= 0) and Pareto
// are sampled from a table of the inverse CDF, with knots denser toward
// both ends of [0, 1) and linear interpolation; the tails are cut at
// probability TailMass (2^-20) so that Max, and the buffer the pipeline
// needs, stay finite. Empirical interpolates linearly between sorted
// samples, the inverse of a piecewise-linear CDF through them. CDF
// always describes the distribution actually sampled, truncations
// included, so KSDistance against it measures the emulator's fidelity.
//
// # Loss models
//
// Bernoulli (independent), BitError (per-bit errors, so longer frames
// are lost more often), GilbertElliott and Markov4 (netem's "gemodel" and
// "state" models, with sch_netem.c's semantics) and Pattern
// (deterministic). Each reports its theoretical Rate and MeanBurst.
//
// # Fidelity helpers
//
// KSDistance, BinomialInterval (Wilson), LossInterval (Wilson over the
// effective sample of a bursty model) and Bursts compare what a model
// produced with the theory; the tests and the experiments' tables use
// them.
//
// # Performance
//
// Admit does not allocate, take locks or read the clock. A Model is not
// safe for concurrent use: the input stage owns it.
package link
