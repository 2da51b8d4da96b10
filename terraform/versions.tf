# The same provider constraint as self-signed-certificates' module, so both plug into one root module.
terraform {
  required_providers {
    juju = {
      source  = "juju/juju"
      version = ">= 1.0"
    }
  }
}
