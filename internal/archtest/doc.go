// Package archtest holds the import-boundary test: it parses the package
// table of docs/architecture.md (what each package may import, and what it
// must not import, directly or indirectly) and checks it against the
// import graph `go list -deps -json ./...` reports, so that the map and the
// tree cannot drift apart. It has no code outside its test.
//
// It must not import any Headroom package.
package archtest
