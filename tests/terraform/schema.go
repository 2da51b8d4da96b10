package terraform

// schema is what the juju provider accepts and computes for one resource type: read from terraform-provider-juju
// v1.5.6 (tag v1.5.6, docs/resources/{model,application,offer,integration}.md and docs/data-sources/model.md), the
// newest 1.x, which versions.tf's ">= 1.0" admits (self-signed-certificates' module pins the same constraint; its
// v2 bump was reverted).
type schema struct {
	Required []string
	Optional []string
	Computed []string          // read-only attributes, set by the provider
	Blocks   map[string]schema // nested blocks (Block List / Block Set), each a list of objects
}

var providerSchema = map[string]schema{
	"juju_model": {
		Required: []string{"name"},
		Optional: []string{"annotations", "config", "constraints", "credential", "target_controller"},
		Computed: []string{"id", "type", "uuid"},
		Blocks:   map[string]schema{"cloud": {Required: []string{"name"}, Optional: []string{"region"}}},
	},
	"data.juju_model": {
		Optional: []string{"name", "owner", "uuid"},
		Computed: []string{"id"},
	},
	"juju_application": {
		Required: []string{"model_uuid"},
		Optional: []string{"config", "constraints", "endpoint_bindings", "machines", "name", "registry_credentials",
			"resources", "storage_directives", "trust", "units"},
		Computed: []string{"id", "model_type", "storage"},
		Blocks: map[string]schema{
			"charm":  {Required: []string{"name"}, Optional: []string{"base", "channel", "revision"}},
			"expose": {Optional: []string{"cidrs", "endpoints", "spaces"}},
		},
	},
	"juju_offer": {
		Required: []string{"application_name", "endpoints", "model_uuid"},
		Optional: []string{"name"},
		Computed: []string{"id", "url"},
	},
	"juju_integration": {
		Required: []string{"model_uuid"},
		Optional: []string{"via"},
		Computed: []string{"id"},
		Blocks: map[string]schema{
			"application": {Optional: []string{"endpoint", "name", "offer_url", "offering_controller"}},
		},
	},
}
