package sim_test

import "testing"

func TestToolFormats(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	sh(t, unit(t, m, "b/0"), "relation-set -r backend:2 k=v")
	ip := m.App("b").ServiceAddress() // the ingress address on Kubernetes
	eq(t, "relation-get json", sh(t, a0, "relation-get -r 2 --format=json - b/0"), `{"egress-subnets":"`+ip+`/32","ingress-address":"`+ip+`","k":"v","private-address":"`+ip+`"}`)
	eq(t, "relation-get smart map is yaml", sh(t, a0, "relation-get -r 2 - b/0"), "egress-subnets: "+ip+"/32\ningress-address: "+ip+"\nk: v\nprivate-address: "+ip)
	eq(t, "relation-get yaml key", sh(t, a0, "relation-get -r 2 --format=yaml k b/0"), "v")
	eq(t, "relation-ids json", sh(t, a0, "relation-ids --format=json peers"), `["peers:0"]`)
	eq(t, "relation-list smart", sh(t, a0, "relation-list -r 2"), "b/0")
	eq(t, "is-leader yaml", sh(t, a0, "is-leader --format=yaml"), "true")
	eq(t, "bad format", sh(t, a0, "is-leader --format=xml 2>&1; echo rc=$?"), `ERROR invalid value "xml" for option --format: unknown format "xml"`+"\nrc=2")
	eq(t, "unknown flag", sh(t, a0, "is-leader --bogus 2>&1; echo rc=$?"), "ERROR option provided but not defined: --bogus\nrc=2")
	eq(t, "secret-get default yaml", sh(t, a0, "u=$(secret-add foo=bar); secret-get $u"), "foo: bar")
	eq(t, "empty string prints nothing", sh(t, a0, "config-get script | wc -c"), "0")
}
