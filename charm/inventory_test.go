package charm

import (
	"encoding/json"
	"testing"
)

// TestInventoryPerRelation: the inventory is kept under one peer key per relation, so a relation's change rewrites
// only its own entries; the single key of earlier revisions is read and then deleted, a relation left with no
// certificate loses its key, and the agent's inventory.json still holds every entry.
func TestInventoryPerRelation(t *testing.T) {
	legacy, _ := json.Marshal([]InventoryEntry{
		{Serial: "1", Relation: "certificates:3", Unit: "a/0"},
		{Serial: "2", Relation: "certificates:12", Unit: "b/0"},
		{Serial: "3", Relation: "certificates:12", Unit: "b/1"},
	})
	r := &reconciler{peer: map[string]string{peerInventory: string(legacy)}}
	p := &provider{r: r, pub: &published{CA: "ca"}, invByID: map[string][]InventoryEntry{}, pending: map[string]int{},
		refused: map[string]int{}, written: map[string]string{}}
	if err := p.loadPeerState(); err != nil {
		t.Fatal(err)
	}
	if len(p.invByID["certificates:3"]) != 1 || len(p.invByID["certificates:12"]) != 2 {
		t.Fatalf("loaded %v", p.invByID)
	}
	if err := p.savePeerState("policy"); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.peerUpdate[peerInventory]; !ok || v != "" {
		t.Errorf("the single inventory key is not deleted: %q, %v", v, ok)
	}
	if r.peer["inventory-3"] == "" || r.peer["inventory-12"] == "" {
		t.Fatalf("per-relation keys missing: %v", r.peer)
	}
	if got := inventoryKeys(r.peer); len(got) != 2 || got[0] != "inventory-3" || got[1] != "inventory-12" {
		t.Errorf("keys in relation order: %v", got)
	}
	var all []InventoryEntry
	if err := json.Unmarshal([]byte(joinInventory(r.peer)), &all); err != nil || len(all) != 3 || all[0].Serial != "1" {
		t.Fatalf("inventory.json: %v, %v", all, err)
	}

	// A change to one relation writes that relation's key only; emptying a relation deletes its key.
	r.peerUpdate = nil
	p.invByID["certificates:3"] = append(p.invByID["certificates:3"], InventoryEntry{Serial: "4", Relation: "certificates:3"})
	if err := p.savePeerState("policy"); err != nil {
		t.Fatal(err)
	}
	for k := range r.peerUpdate {
		if k == "inventory-12" || k == peerInventory {
			t.Errorf("an unchanged relation's inventory was rewritten: %s", k)
		}
	}
	if _, ok := r.peerUpdate["inventory-3"]; !ok {
		t.Error("the changed relation's inventory was not written")
	}
	r.peerUpdate = nil
	delete(p.invByID, "certificates:12")
	if err := p.savePeerState("policy"); err != nil {
		t.Fatal(err)
	}
	if v, ok := r.peerUpdate["inventory-12"]; !ok || v != "" {
		t.Errorf("a relation with no certificates keeps its key: %q, %v", v, ok)
	}
	if joinInventory(map[string]string{}) != "[]" {
		t.Error("an empty inventory is not []")
	}
}
