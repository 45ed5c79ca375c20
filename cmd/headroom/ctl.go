package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/ctl"
	"github.com/headroomhq/headroom/daemon"
)

func init() { register(ctlCommand) }

// ctlCommand is `headroom ctl ...`: the common operations through the API.
func ctlCommand(app *kingpin.Application) (string, func() int) {
	cmd := app.Command("ctl", "Operate a running Headroom through its API.")
	var (
		apiURL, tokenFile, output string
		action                    func(ctx context.Context, c *ctl.Client) error
	)
	cmd.Flag("api.url", "Headroom's URL.").Default("http://localhost:9644").Envar("HEADROOM_URL").StringVar(&apiURL)
	cmd.Flag("api.token-file", "File holding the API token; otherwise HEADROOM_API_TOKEN is used.").StringVar(&tokenFile)
	cmd.Flag("output", "table or json.").Short('o').Default("table").EnumVar(&output, "table", "json")
	on := func(c *kingpin.CmdClause, f func(ctx context.Context, c *ctl.Client) error) {
		c.Action(func(*kingpin.ParseContext) error { action = f; return nil })
	}

	list := cmd.Command("list", "List groups, projects, quotas, overrides or alerts.")
	listWhat := list.Arg("what", "groups, projects, quotas, overrides or alerts").Required().Enum("groups", "projects", "quotas", "overrides", "alerts")
	on(list, func(ctx context.Context, c *ctl.Client) error { return c.List(ctx, *listWhat) })

	show := cmd.Command("show", "Show a group, project or alert.")
	showWhat := show.Arg("what", "group, project or alert").Required().Enum("group", "project", "alert")
	showName := show.Arg("name", "Its name (an alert's id).").Required().String()
	on(show, func(ctx context.Context, c *ctl.Client) error { return c.Show(ctx, *showWhat, *showName) })

	ov := cmd.Command("override", "Set a project's or group's override; the current one's ETag guards against lost updates.")
	ovKind := ov.Arg("kind", "project or group").Required().Enum("project", "group")
	ovName := ov.Arg("name", "Its name.").Required().String()
	ovDir := ov.Flag("direction", "produce or fetch, for project fields.").Default("produce").Enum("produce", "fetch")
	ovRates := map[string]*string{}
	for _, f := range []string{"share", "floor", "ceiling", "pin"} {
		ovRates[f] = ov.Flag(f, "The project's "+f+", e.g. 50MiB/s.").String()
	}
	ovWeight := ov.Flag("weight", "The project's weight.").Float64()
	ovFreeze := ov.Flag("freeze", "Freeze the group.").Bool()
	ovMargin := ov.Flag("margin", "The group's margin, in (0, 1].").Float64()
	ovFor := ov.Flag("for", "Expire after this long, e.g. 2h; permanent when unset.").Duration()
	ovReason := ov.Flag("reason", "Why, for the audit trail.").String()
	on(ov, func(ctx context.Context, c *ctl.Client) error {
		spec := map[string]any{}
		q := map[string]any{}
		for f, v := range ovRates {
			if *v != "" {
				r, err := config.ParseRate(*v)
				if err != nil {
					return fmt.Errorf("--%s: %w", f, err)
				}
				q[f] = float64(r)
			}
		}
		if *ovWeight != 0 {
			q["weight"] = *ovWeight
		}
		if len(q) > 0 {
			spec[*ovDir] = q
		}
		if *ovFreeze {
			spec["freeze"] = true
		}
		if *ovMargin != 0 {
			spec["margin"] = *ovMargin
		}
		if *ovFor > 0 {
			spec["expires_at"] = time.Now().Add(*ovFor).UTC().Format(time.RFC3339)
		}
		if *ovReason != "" {
			spec["reason"] = *ovReason
		}
		return c.Override(ctx, *ovKind, *ovName, spec)
	})

	ex := cmd.Command("explain", "Explain a project's quota at a time, and whom it borrowed from.")
	exProject := ex.Arg("project", "Project.").Required().String()
	exDir := ex.Flag("direction", "produce or fetch.").Default("produce").Enum("produce", "fetch")
	exAt := ex.Flag("at", "RFC 3339 time; default now.").String()
	on(ex, func(ctx context.Context, c *ctl.Client) error {
		var at time.Time
		if *exAt != "" {
			t, err := time.Parse(time.RFC3339, *exAt)
			if err != nil {
				return fmt.Errorf("--at: %w", err)
			}
			at = t
		}
		return c.Explain(ctx, *exProject, *exDir, at)
	})

	dm := cmd.Command("damage", "The damage ledger: bytes throttled under Headroom's quotas next to what the static shares would have throttled.")
	dmFrom := dm.Flag("from", "RFC 3339 time; default a day before --to.").String()
	dmTo := dm.Flag("to", "RFC 3339 time; default now.").String()
	on(dm, func(ctx context.Context, c *ctl.Client) error {
		var from, to time.Time
		for _, f := range []struct {
			name, v string
			t       *time.Time
		}{{"--from", *dmFrom, &from}, {"--to", *dmTo, &to}} {
			if f.v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, f.v)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			*f.t = t
		}
		return c.Damage(ctx, from, to)
	})

	for _, a := range []struct{ name, help string }{{"ack", "Acknowledge an incident."}, {"approve", "Approve the action waiting on an incident."}} {
		c := cmd.Command(a.name, a.help)
		id := c.Arg("id", "Incident id.").Required().Int64()
		verb := map[string]string{"ack": "acknowledge", "approve": "approve"}[a.name]
		on(c, func(ctx context.Context, cl *ctl.Client) error { return cl.Alert(ctx, verb, *id, "") })
	}
	rej := cmd.Command("reject", "Reject the action waiting on an incident.")
	rejID := rej.Arg("id", "Incident id.").Required().Int64()
	rejReason := rej.Flag("reason", "Why.").Required().String()
	on(rej, func(ctx context.Context, c *ctl.Client) error { return c.Alert(ctx, "reject", *rejID, *rejReason) })

	st := cmd.Command("status", "Show which replica leads, since when, and this replica's lag behind the state topics.")
	on(st, func(ctx context.Context, c *ctl.Client) error { return c.Status(ctx) })

	rv := cmd.Command("revert", "Write every project's share back: pins through the active replica, or straight to the cluster with --direct.")
	rvTo := rv.Flag("to", "What to revert to.").Required().Enum("shares")
	rvDirect := rv.Flag("direct", "Write to the clusters of --config.file directly; only when no replica runs.").Bool()
	rvConfig := rv.Flag("config.file", "Configuration file, for --direct.").Default("headroom.yml").String()
	on(rv, func(ctx context.Context, c *ctl.Client) error {
		_ = *rvTo // "shares" is the only target
		if !*rvDirect {
			return c.RevertToShares(ctx)
		}
		user := os.Getenv("USER")
		if user == "" {
			user = "unknown"
		}
		rows, err := daemon.RevertDirect(ctx, *rvConfig, "ctl:"+user, newLogger("warn"))
		for _, r := range rows {
			fmt.Fprintf(c.Out, "%s\t%s\t%s\tproduce %s\tfetch %s\n", r.Cluster, r.Project, r.Entity,
				config.Rate(r.Produce), config.Rate(r.Fetch))
		}
		return err
	})

	return cmd.FullCommand(), func() int {
		return runCtl(os.Stdout, os.Stderr, apiURL, tokenFile, os.Getenv("HEADROOM_API_TOKEN"), output == "json", action)
	}
}

func runCtl(stdout, stderr io.Writer, apiURL, tokenFile, envToken string, asJSON bool, action func(context.Context, *ctl.Client) error) int {
	token := envToken
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "headroom ctl: read token: %v\n", err)
			return 2
		}
		token = strings.TrimSpace(string(b))
	}
	c := &ctl.Client{URL: apiURL, Token: token, JSON: asJSON, Out: stdout}
	if err := action(context.Background(), c); err != nil {
		fmt.Fprintf(stderr, "headroom ctl: %v\n", err)
		return 1
	}
	return 0
}
