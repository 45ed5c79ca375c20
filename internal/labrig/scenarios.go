package labrig

import "fmt"

// HotAndCalm is the scenario of the alert loop's end-to-end tests: one
// broker of 1 MB/s produce (2 MB/s fetch), of which 80% may be handed out
// (800 kB/s). hot and calm have 300 kB/s produce shares; calm has a
// 150 kB/s floor, so while it stays under it it is never throttled, and
// hot can borrow at most 650 kB/s (850 kB/s once the margin is 1). hot
// leads hotPartitions partitions, calm one. The base demand is what the
// scenario file needs; the rig's load is what the test Sets.
func HotAndCalm(name string, hotPartitions int) string {
	return fmt.Sprintf(`
name: %s
duration: 1h
brokers:
  count: 1
  capacity: {produce: 1MB/s, fetch: 2MB/s}
  margin: 0.8
projects:
  - name: hot
    produce: {share: 300kB/s}
    fetch: {share: 600kB/s}
    partitions: %d
    demand: {produce: {base: 100kB/s}}
  - name: calm
    produce: {share: 300kB/s, floor: 150kB/s}
    fetch: {share: 600kB/s}
    partitions: 1
    demand: {produce: {base: 50kB/s}}
`, name, hotPartitions)
}
