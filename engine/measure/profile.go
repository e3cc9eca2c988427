package measure

// The send-loop profile (NetVCR Table III): where a packet's time goes in
// labrun's timed loop, measured on every Nth packet (replay.Config.Profile).
// Each stage has a mean, a median and a 99th percentile, in microseconds;
// the means of the stages add up to the profiled loop's mean.
const (
	ProfEvery      = "prof_every"        // one packet in this many was profiled
	ProfSamples    = "prof_samples"      // packets profiled
	ProfReadMeanUS = "prof_read_mean_us" // read: the source's Next (trace read, copy, the source's transform)
	ProfReadP50US  = "prof_read_p50_us"
	ProfReadP99US  = "prof_read_p99_us"
	ProfWaitMeanUS = "prof_wait_mean_us" // wait: the timer, until the due time
	ProfWaitP50US  = "prof_wait_p50_us"
	ProfWaitP99US  = "prof_wait_p99_us"
	ProfPadMeanUS  = "prof_pad_mean_us" // pad: the sink's frame work before its checksum (checks, padding)
	ProfPadP50US   = "prof_pad_p50_us"
	ProfPadP99US   = "prof_pad_p99_us"
	ProfCsumMeanUS = "prof_csum_mean_us" // csum: the sink's checksum work
	ProfCsumP50US  = "prof_csum_p50_us"
	ProfCsumP99US  = "prof_csum_p99_us"
	ProfSendMeanUS = "prof_send_mean_us" // send: the rest of the sink's Send, the system call
	ProfSendP50US  = "prof_send_p50_us"
	ProfSendP99US  = "prof_send_p99_us"
	ProfBookMeanUS = "prof_book_mean_us" // book: the loop's own bookkeeping after the send
	ProfBookP50US  = "prof_book_p50_us"
	ProfBookP99US  = "prof_book_p99_us"
	ProfLoopMeanUS = "prof_loop_mean_us" // loop: one whole iteration of a profiled packet
	ProfLoopP50US  = "prof_loop_p50_us"
	ProfLoopP99US  = "prof_loop_p99_us"
	LoopMeanUS     = "loop_mean_us" // the timed loop's wall time over the packets sent, every packet, no timestamps (us)
)

// ProfStage names one stage's metrics.
type ProfStage struct{ Name, Mean, P50, P99 string }

// ProfStages lists the profile's stages in loop order.
var ProfStages = []ProfStage{
	{"read", ProfReadMeanUS, ProfReadP50US, ProfReadP99US},
	{"wait", ProfWaitMeanUS, ProfWaitP50US, ProfWaitP99US},
	{"pad", ProfPadMeanUS, ProfPadP50US, ProfPadP99US},
	{"csum", ProfCsumMeanUS, ProfCsumP50US, ProfCsumP99US},
	{"send", ProfSendMeanUS, ProfSendP50US, ProfSendP99US},
	{"book", ProfBookMeanUS, ProfBookP50US, ProfBookP99US},
	{"loop", ProfLoopMeanUS, ProfLoopP50US, ProfLoopP99US},
}

var profileNames = []struct{ Name, Doc string }{
	{ProfEvery, "send-loop profile: one packet in this many was timed stage by stage"},
	{ProfSamples, "send-loop profile: packets timed"},
	{ProfReadMeanUS, "profile, read (the source's Next: trace read, copy, zero_payload/rewrite): mean (us)"},
	{ProfReadP50US, "profile, read: median (us)"},
	{ProfReadP99US, "profile, read: 99th percentile (us)"},
	{ProfWaitMeanUS, "profile, wait (the timer, until the due time): mean (us)"},
	{ProfWaitP50US, "profile, wait: median (us)"},
	{ProfWaitP99US, "profile, wait: 99th percentile (us)"},
	{ProfPadMeanUS, "profile, pad (the sink's frame checks and padding, before the checksum): mean (us)"},
	{ProfPadP50US, "profile, pad: median (us)"},
	{ProfPadP99US, "profile, pad: 99th percentile (us)"},
	{ProfCsumMeanUS, "profile, csum (the sink's checksum over the padded frame): mean (us)"},
	{ProfCsumP50US, "profile, csum: median (us)"},
	{ProfCsumP99US, "profile, csum: 99th percentile (us)"},
	{ProfSendMeanUS, "profile, send (the rest of the sink's Send: the system call, retries): mean (us)"},
	{ProfSendP50US, "profile, send: median (us)"},
	{ProfSendP99US, "profile, send: 99th percentile (us)"},
	{ProfBookMeanUS, "profile, book (the loop's bookkeeping after the send): mean (us)"},
	{ProfBookP50US, "profile, book: median (us)"},
	{ProfBookP99US, "profile, book: 99th percentile (us)"},
	{ProfLoopMeanUS, "profile, one whole loop iteration of a timed packet (the sum of the stages): mean (us)"},
	{ProfLoopP50US, "profile, loop: median (us)"},
	{ProfLoopP99US, "profile, loop: 99th percentile (us)"},
	{LoopMeanUS, "the timed loop's wall time over the packets sent, every packet, without timestamps (us)"},
}

// The profile's names go after the others in report order; a block of
// their own keeps them apart from the shared list.
func init() { Names = append(Names, profileNames...) }
