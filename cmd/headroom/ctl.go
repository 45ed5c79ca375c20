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
		action                    ctlAction
	)
	cmd.Flag("api.url", "Headroom's URL.").Default("http://localhost:9644").Envar("HEADROOM_URL").StringVar(&apiURL)
	cmd.Flag("api.token-file", "File holding the API token; otherwise HEADROOM_API_TOKEN is used.").StringVar(&tokenFile)
	cmd.Flag("output", "table or json.").Short('o').Default("table").EnumVar(&output, "table", "json")
	on := func(c *kingpin.CmdClause, f ctlAction) {
		c.Action(func(*kingpin.ParseContext) error { action = f; return nil })
	}
	for _, declare := range []func(*kingpin.CmdClause, ctlOn){
		ctlList, ctlShow, ctlOverride, ctlExplain, ctlDamage, ctlIncidents, ctlStatus, ctlRevert,
	} {
		declare(cmd, on)
	}
	return cmd.FullCommand(), func() int {
		return runCtl(os.Stdout, os.Stderr, apiURL, tokenFile, os.Getenv("HEADROOM_API_TOKEN"), output == "json", action)
	}
}

// ctlAction is what a ctl subcommand does through the API's client.
type ctlAction func(ctx context.Context, c *ctl.Client) error

// ctlOn makes a subcommand, when chosen, the action ctl runs.
type ctlOn func(sub *kingpin.CmdClause, f ctlAction)

// ctlList declares `ctl list WHAT`.
func ctlList(cmd *kingpin.CmdClause, on ctlOn) {
	list := cmd.Command("list", "List groups, projects, quotas, overrides or alerts.")
	what := list.Arg("what", "groups, projects, quotas, overrides or alerts").Required().Enum("groups", "projects", "quotas", "overrides", "alerts")
	on(list, func(ctx context.Context, c *ctl.Client) error { return c.List(ctx, *what) })
}

// ctlShow declares `ctl show WHAT NAME`.
func ctlShow(cmd *kingpin.CmdClause, on ctlOn) {
	show := cmd.Command("show", "Show a group, project or alert.")
	what := show.Arg("what", "group, project or alert").Required().Enum("group", "project", "alert")
	name := show.Arg("name", "Its name (an alert's id).").Required().String()
	on(show, func(ctx context.Context, c *ctl.Client) error { return c.Show(ctx, *what, *name) })
}

// overrideFlags are the flags of `ctl override`.
type overrideFlags struct {
	direction      *string
	rates          map[string]*string // share, floor, ceiling, pin
	weight, margin *float64
	freeze         *bool
	expiresIn      *time.Duration
	reason         *string
}

// ctlOverride declares `ctl override KIND NAME` and its flags.
func ctlOverride(cmd *kingpin.CmdClause, on ctlOn) {
	ov := cmd.Command("override", "Set a project's or group's override; the current one's ETag guards against lost updates.")
	kind := ov.Arg("kind", "project or group").Required().Enum("project", "group")
	name := ov.Arg("name", "Its name.").Required().String()
	f := overrideFlags{
		direction: ov.Flag("direction", "produce or fetch, for project fields.").Default("produce").Enum("produce", "fetch"),
		rates:     map[string]*string{},
	}
	for _, r := range []string{"share", "floor", "ceiling", "pin"} {
		f.rates[r] = ov.Flag(r, "The project's "+r+", e.g. 50MiB/s.").String()
	}
	f.weight = ov.Flag("weight", "The project's weight.").Float64()
	f.freeze = ov.Flag("freeze", "Freeze the group.").Bool()
	f.margin = ov.Flag("margin", "The group's margin, in (0, 1].").Float64()
	f.expiresIn = ov.Flag("for", "Expire after this long, e.g. 2h; permanent when unset.").Duration()
	f.reason = ov.Flag("reason", "Why, for the audit trail.").String()
	on(ov, func(ctx context.Context, c *ctl.Client) error {
		spec, err := f.spec(time.Now())
		if err != nil {
			return err
		}
		return c.Override(ctx, *kind, *name, spec)
	})
}

// spec is the override the flags set, as the API takes it; an expiry is
// counted from now.
func (f overrideFlags) spec(now time.Time) (map[string]any, error) {
	spec := map[string]any{}
	q := map[string]any{}
	for name, v := range f.rates {
		if *v != "" {
			r, err := config.ParseRate(*v)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", name, err)
			}
			q[name] = float64(r)
		}
	}
	if *f.weight != 0 {
		q["weight"] = *f.weight
	}
	if len(q) > 0 {
		spec[*f.direction] = q
	}
	if *f.freeze {
		spec["freeze"] = true
	}
	if *f.margin != 0 {
		spec["margin"] = *f.margin
	}
	if *f.expiresIn > 0 {
		spec["expires_at"] = now.Add(*f.expiresIn).UTC().Format(time.RFC3339)
	}
	if *f.reason != "" {
		spec["reason"] = *f.reason
	}
	return spec, nil
}

// ctlExplain declares `ctl explain PROJECT`.
func ctlExplain(cmd *kingpin.CmdClause, on ctlOn) {
	ex := cmd.Command("explain", "Explain a project's quota at a time, and whom it borrowed from.")
	project := ex.Arg("project", "Project.").Required().String()
	dir := ex.Flag("direction", "produce or fetch.").Default("produce").Enum("produce", "fetch")
	atFlag := ex.Flag("at", "RFC 3339 time; default now.").String()
	on(ex, func(ctx context.Context, c *ctl.Client) error {
		at, err := timeFlag("--at", *atFlag)
		if err != nil {
			return err
		}
		return c.Explain(ctx, *project, *dir, at)
	})
}

// ctlDamage declares `ctl damage`.
func ctlDamage(cmd *kingpin.CmdClause, on ctlOn) {
	dm := cmd.Command("damage", "The damage ledger: bytes throttled under Headroom's quotas next to what the static shares would have throttled.")
	fromFlag := dm.Flag("from", "RFC 3339 time; default a day before --to.").String()
	toFlag := dm.Flag("to", "RFC 3339 time; default now.").String()
	on(dm, func(ctx context.Context, c *ctl.Client) error {
		from, err := timeFlag("--from", *fromFlag)
		if err != nil {
			return err
		}
		to, err := timeFlag("--to", *toFlag)
		if err != nil {
			return err
		}
		return c.Damage(ctx, from, to)
	})
}

// timeFlag parses the RFC 3339 value v of the flag name; empty is the
// zero time, which the client reads as its default.
func timeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// ctlIncidents declares `ctl ack ID`, `ctl approve ID` and
// `ctl reject ID --reason`.
func ctlIncidents(cmd *kingpin.CmdClause, on ctlOn) {
	for _, a := range []struct{ name, help string }{{"ack", "Acknowledge an incident."}, {"approve", "Approve the action waiting on an incident."}} {
		c := cmd.Command(a.name, a.help)
		id := c.Arg("id", "Incident id.").Required().Int64()
		verb := map[string]string{"ack": "acknowledge", "approve": "approve"}[a.name]
		on(c, func(ctx context.Context, cl *ctl.Client) error { return cl.Alert(ctx, verb, *id, "") })
	}
	rej := cmd.Command("reject", "Reject the action waiting on an incident.")
	id := rej.Arg("id", "Incident id.").Required().Int64()
	reason := rej.Flag("reason", "Why.").Required().String()
	on(rej, func(ctx context.Context, c *ctl.Client) error { return c.Alert(ctx, "reject", *id, *reason) })
}

// ctlStatus declares `ctl status`.
func ctlStatus(cmd *kingpin.CmdClause, on ctlOn) {
	st := cmd.Command("status", "Show which replica leads, since when, and this replica's lag behind the state topics.")
	on(st, func(ctx context.Context, c *ctl.Client) error { return c.Status(ctx) })
}

// ctlRevert declares `ctl revert --to shares [--direct]`.
func ctlRevert(cmd *kingpin.CmdClause, on ctlOn) {
	rv := cmd.Command("revert", "Write every project's share back: pins through the active replica, or straight to the cluster with --direct.")
	to := rv.Flag("to", "What to revert to.").Required().Enum("shares")
	direct := rv.Flag("direct", "Write to the clusters of --config.file directly; only when no replica runs.").Bool()
	cfgFile := rv.Flag("config.file", "Configuration file, for --direct.").Default("headroom.yml").String()
	on(rv, func(ctx context.Context, c *ctl.Client) error {
		_ = *to // "shares" is the only target
		if !*direct {
			return c.RevertToShares(ctx)
		}
		user := os.Getenv("USER")
		if user == "" {
			user = "unknown"
		}
		rows, err := daemon.RevertDirect(ctx, *cfgFile, "ctl:"+user, newLogger("warn"))
		for _, r := range rows {
			fmt.Fprintf(c.Out, "%s\t%s\t%s\tproduce %s\tfetch %s\n", r.Cluster, r.Project, r.Entity,
				config.Rate(r.Produce), config.Rate(r.Fetch))
		}
		return err
	})
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
