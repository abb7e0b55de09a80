package features

// Scratch holds what reading a window needs besides the state of its
// series: the aggregates it merges, its values for the quantiles, and, per
// window, the last stats computed and the sorted raw values, each with the
// series they belong to. None of it is state: it is rebuilt from the
// series whenever it belongs to another one or to an older version, so
// sharing it changes no feature, only how often a window is computed again.
//
// The series of one owner are read one at a time (a source's actor reads
// its series in turn), so they share one Scratch (Series.UseScratch) and a
// series costs no query memory of its own. A series without one allocates
// its own on its first read and keeps it. A Scratch is not safe for
// concurrent use, and neither are the series that share it. The zero value
// is ready.
type Scratch struct {
	raw  []sample // the raw samples of the window read last
	aggs []windowAgg
	// The values of the window read last, for its quantiles: sorted raw
	// values when qsorted, else merged sketch bins (bins).
	qsorted              bool
	qvals                []valueAt
	bins, bins2, rawBins []bin
	rawKeys              []int32

	sorted []sortedWindow // by window index
	cache  []cachedStats  // by window index
}

// UseScratch makes s read its windows with sc, which the other series of
// its owner share (see Scratch); nil gives s its own again on its next
// read.
func (s *Series) UseScratch(sc *Scratch) { s.sc = sc }

// scratch is the Scratch s reads with.
func (s *Series) scratch() *Scratch {
	if s.sc == nil {
		s.sc = &Scratch{}
	}
	return s.sc
}

// perWindow returns entry k of a per-window list of a series of n
// windows, growing the list to hold them (series sharing a scratch may
// have different configs).
func perWindow[T any](list *[]T, k, n int) *T {
	if len(*list) <= k {
		*list = append(*list, make([]T, max(n, k+1)-len(*list))...)
	}
	return &(*list)[k]
}
