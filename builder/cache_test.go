package builder

import "testing"

func TestKeyIgnoresExplanationInputs(t *testing.T) {
	a := Inputs{Parent: "sha256:p", Instruction: "CMD", Base: "x", BaseImage: "sha256:1", Files: map[string]string{"a": "1"}}
	b := a
	b.Base, b.BaseImage, b.Files = "y", "sha256:2", nil
	if a.Key() != b.Key() {
		t.Error("Base, BaseImage and Files changed the key")
	}
	b.Sources = "sha256:s"
	if a.Key() == b.Key() {
		t.Error("Sources did not change the key")
	}
}
