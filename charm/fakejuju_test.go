package charm

// What the charm tests' small fakes of Juju share.

// setBag applies a relation-set of data to the fake databag name in bags: an empty value deletes its key, as Juju
// does.
func setBag(bags map[string]map[string]string, name string, data map[string]string) {
	if bags[name] == nil {
		bags[name] = map[string]string{}
	}
	for k, v := range data {
		if v == "" {
			delete(bags[name], k)
		} else {
			bags[name][k] = v
		}
	}
}
