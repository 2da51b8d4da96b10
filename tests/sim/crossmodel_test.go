package sim_test

import (
	"regexp"
	"strings"
	"testing"
)

func TestCrossModelRelationNames(t *testing.T) {
	s := newSim(t)
	off := addModel(t, s, "offerer")
	con := addModel(t, s, "consumer")
	deploy(t, off, "a", 1, nil)
	deploy(t, con, "b", 1, nil)
	settle(t, s)
	if err := off.Offer("a", "db", "dbo"); err != nil {
		t.Fatal(err)
	}
	if err := con.Consume(off, "dbo", "mydb"); err != nil {
		t.Fatal(err)
	}
	if _, err := con.Integrate("b:backend", "mydb"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0, b0 := unit(t, off, "a/0"), unit(t, con, "b/0")
	eq(t, "consumer sees the alias", b0.HookNames()[len(b0.HookNames())-3:], []string{"backend-relation-created", "backend-relation-joined(mydb/0)", "backend-relation-changed(mydb/0)"})
	names := strings.Join(a0.HookNames(), " ")
	if !regexp.MustCompile(`db-relation-joined\(remote-[0-9a-f]{32}/0\)`).MatchString(names) {
		t.Errorf("offerer must see remote-<hex>: %s", names)
	}
	if ev := readFile(t, b0, "events.log"); !strings.Contains(ev, "remote=mydb/0 app=mydb") {
		t.Errorf("consumer env:\n%s", ev)
	}
	// Databags replicated both ways.
	sh(t, a0, "relation-set -r db:1 from=offerer")
	sh(t, b0, "relation-set -r backend:1 from=consumer")
	settle(t, s)
	eq(t, "consumer reads offerer", sh(t, b0, "relation-get -r backend:1 from mydb/0"), "offerer")
	remote := strings.TrimSpace(sh(t, a0, "relation-list -r db:1"))
	eq(t, "offerer reads consumer", sh(t, a0, "relation-get -r db:1 from "+remote), "consumer")
	eq(t, "remote app", sh(t, a0, "relation-list -r db:1 --app"), strings.TrimSuffix(remote, "/0"))
	eq(t, "relation-model-get on consumer", sh(t, b0, "relation-model-get -r backend:1 --format=json"), `{"uuid":"`+off.UUID()+`"}`)
	st := s.State()
	if st.Models[1].Relations[1].Endpoints[1] != "mydb:db" {
		t.Errorf("consumer state endpoints: %v", st.Models[1].Relations[1].Endpoints)
	}
}

func TestCrossModelSecretsOnlyOffererGrants(t *testing.T) {
	s := newSim(t)
	off := addModel(t, s, "offerer")
	con := addModel(t, s, "consumer")
	deploy(t, off, "a", 1, nil)
	deploy(t, con, "b", 1, nil)
	if err := off.Offer("a", "db", "dbo"); err != nil {
		t.Fatal(err)
	}
	if err := con.Consume(off, "dbo", "mydb"); err != nil {
		t.Fatal(err)
	}
	if _, err := con.Integrate("b:backend", "mydb"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0, b0 := unit(t, off, "a/0"), unit(t, con, "b/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add foo=v1"))
	sh(t, a0, "secret-grant "+uri+" -r db:1")
	if !strings.Contains(uri, off.UUID()) {
		t.Errorf("uri %s must carry the offerer model uuid", uri)
	}
	eq(t, "consumer reads", sh(t, b0, "secret-get "+uri+" foo"), "v1")
	res, _ := b0.RunAction("run", map[string]any{"cmd": "u=$(secret-add other=x) && secret-grant $u -r backend:1"})
	eq(t, "consumer grant fails at commit", res.Status, "failed")
	if !strings.Contains(toString(res.Results["stderr"]), "sharing consumer secrets across a cross model relation not supported") {
		t.Errorf("results %v", res.Results)
	}
	res, _ = a0.RunAction("run", map[string]any{"cmd": "secret-grant " + uri + " -r db:1 --unit $(relation-list -r db:1)"})
	if !strings.Contains(toString(res.Results["stderr"]), "sharing secrets with a unit across a cross model relation not supported") {
		t.Errorf("unit grant over CMR: %v", res.Results)
	}
}

// juju suspend-relation on a cross-model relation: both sides run relation-departed for each remote unit (naming the
// remote unit as departing) and relation-broken, in which relation-ids no longer lists it; the relation then leaves
// their hook context. juju resume-relation: relation-created, joined and changed again, each unit's settings
// overwritten with its addresses. Only a cross-model relation can be suspended.
func TestSuspendAndResumeCrossModelRelation(t *testing.T) {
	s := newSim(t)
	off := addModel(t, s, "offerer")
	con := addModel(t, s, "consumer")
	deploy(t, off, "a", 1, nil)
	deploy(t, con, "b", 2, nil)
	settle(t, s)
	if err := off.Offer("a", "db", "dbo"); err != nil {
		t.Fatal(err)
	}
	if err := con.Consume(off, "dbo", "mydb"); err != nil {
		t.Fatal(err)
	}
	r, err := con.Integrate("b:backend", "mydb")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0, b0 := unit(t, off, "a/0"), unit(t, con, "b/0")
	sh(t, a0, "relation-set -r db:1 from=offerer")
	settle(t, s)
	script(t, b0, `[ "$JUJU_HOOK_NAME" = backend-relation-broken ] && relation-ids backend --format=json > ids-in-broken; true`)
	na, nb := len(a0.HookNames()), len(b0.HookNames())
	if err := off.SuspendRelation(r); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "consumer on suspend", hooksSince(b0, nb), []string{"backend-relation-departed(mydb/0)", "backend-relation-broken"})
	got := strings.Join(hooksSince(a0, na), " ")
	if !regexp.MustCompile(`^db-relation-departed\(remote-[0-9a-f]{32}/0\) db-relation-departed\(remote-[0-9a-f]{32}/1\) db-relation-broken$`).MatchString(got) {
		t.Errorf("offerer on suspend: %s", got)
	}
	if ev := readFile(t, b0, "events.log"); !strings.Contains(ev, "backend-relation-departed rel=backend:1 remote=mydb/0 app=mydb departing=mydb/0") {
		t.Errorf("suspend: JUJU_DEPARTING_UNIT must be the remote unit:\n%s", ev)
	}
	eq(t, "relation-ids in relation-broken", readFile(t, b0, "ids-in-broken"), "[]")
	eq(t, "relation-ids after", sh(t, b0, "relation-ids backend --format=json"), "[]")

	nb = len(b0.HookNames())
	if err := off.ResumeRelation(r); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "consumer on resume", hooksSince(b0, nb), []string{"backend-relation-created", "backend-relation-joined(mydb/0)", "backend-relation-changed(mydb/0)"})
	eq(t, "relation-ids after resume", sh(t, b0, "relation-ids backend --format=json"), `["backend:1"]`)
	eq(t, "the offerer's settings overwritten on re-entry", sh(t, b0, "relation-get -r backend:1 from mydb/0"), "")
	eq(t, "with its address", sh(t, b0, "relation-get -r backend:1 ingress-address mydb/0"), a0.App().ServiceAddress())

	deploy(t, con, "c", 1, nil)
	local, err := con.Integrate("c:db", "b:backend")
	if err != nil {
		t.Fatal(err)
	}
	if err := con.SuspendRelation(local); err == nil {
		t.Error("a relation within one model must not be suspended")
	}
}
