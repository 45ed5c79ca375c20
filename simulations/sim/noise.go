package sim

// normals draws approximately standard normal numbers for observation
// noise, cheaply: the Irwin–Hall sum of four uniform draws taken from one
// xorshift64 step, centred and scaled to unit variance. It is bounded by
// ±2√3 and otherwise close to a normal; measurement noise needs nothing
// better, and at a thousand projects over a week of rounds a full normal
// per broker and round dominated the run time.
type normals struct{ state uint64 }

func newNormals(seed, stream uint64) *normals {
	x := (seed ^ 0x9e3779b97f4a7c15) * (stream*2 + 0xbf58476d1ce4e5b9)
	if x == 0 {
		x = 1
	}
	return &normals{state: x}
}

func (n *normals) next() float64 {
	x := n.state
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	n.state = x
	sum := float64(x&0xffff) + float64(x>>16&0xffff) + float64(x>>32&0xffff) + float64(x>>48)
	// Four uniforms on [0,1) sum to mean 2 and variance 4/12.
	return (sum/65536 - 2) * 1.7320508075688772
}
