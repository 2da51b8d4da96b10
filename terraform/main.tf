# tls-authority from Charmhub, and the two offers a COS root module consumes from another model.

resource "juju_application" "tls-authority" {
  name       = var.app_name
  model_uuid = var.model_uuid

  charm {
    name     = "tls-authority"
    channel  = var.channel
    revision = var.revision
    base     = var.base
  }

  config      = var.config
  constraints = var.constraints
  units       = var.units

  # The charm talks to Juju and Pebble only, never to the Kubernetes API.
  trust = false

  # No resources: Juju deploys the authority-image revision released with the charm in the channel.
}

# The offer names are fixed, as in self-signed-certificates, so root modules can also write the URLs by hand
# ("admin/<model>.certificates"); a second instance in the same model would collide with the first.
# application_name refers to the application (not var.app_name) so that Terraform creates the application first.
resource "juju_offer" "send_ca_cert" {
  name             = "send-ca-cert"
  model_uuid       = var.model_uuid
  application_name = juju_application.tls-authority.name
  endpoints        = ["send-ca-cert"]
}

resource "juju_offer" "certificates" {
  name             = "certificates"
  model_uuid       = var.model_uuid
  application_name = juju_application.tls-authority.name
  endpoints        = ["certificates"]
}
