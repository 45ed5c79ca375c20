// Command gpx_headroom is the Headroom datasource's backend binary, which
// Grafana starts and talks to over go-plugin gRPC.
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/headroomhq/headroom/plugin"
)

func main() {
	if err := datasource.Manage(plugin.ID, plugin.NewDatasource, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("headroom datasource stopped", "error", err.Error())
		os.Exit(1)
	}
}
