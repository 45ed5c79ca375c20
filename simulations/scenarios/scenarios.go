// Package scenarios is Headroom's public scenario suite (see README.md in
// this folder). The files are embedded, so that commands such as
// `headroom demo` find them from any working directory.
package scenarios

import "embed"

// FS holds the suite's scenario files and traces.
//
//go:embed *.yaml traces/*.csv
var FS embed.FS

// Vivo is the file name of the two-project case the demo plays.
const Vivo = "vivo-two-projects.yaml"
