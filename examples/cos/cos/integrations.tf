# The "Certificates" integrations of observability-stack's terraform/cos-lite/integrations.tf, wired the same way.

resource "juju_integration" "internal_certificates" {
  for_each = var.internal_tls ? {
    alertmanager = juju_application.alertmanager.name
    catalogue    = juju_application.catalogue.name
    grafana      = juju_application.grafana.name
    loki         = juju_application.loki.name
    prometheus   = juju_application.prometheus.name
  } : {}

  model_uuid = local.model_uuid

  application {
    name     = module.ca[0].app_name
    endpoint = module.ca[0].provides.certificates
  }

  application {
    name     = each.value
    endpoint = "certificates"
  }
}

# Traefik trusts the local CA to reach the applications it proxies.
resource "juju_integration" "traefik_receive_ca_certificate" {
  count = var.internal_tls ? 1 : 0

  model_uuid = local.model_uuid

  application {
    name     = module.ca[0].app_name
    endpoint = module.ca[0].provides.send-ca-cert
  }

  application {
    name     = juju_application.traefik.name
    endpoint = "receive-ca-cert"
  }
}

# Traefik's external certificate, from the CA behind the offer.
resource "juju_integration" "external_traefik_certificates" {
  count = local.tls_termination ? 1 : 0

  model_uuid = local.model_uuid

  application { offer_url = var.external_certificates_offer_url }
  application {
    name     = juju_application.traefik.name
    endpoint = "certificates"
  }
}

# Applications that reach Traefik's external address trust the external CA.
resource "juju_integration" "external_ca_cert" {
  for_each = local.tls_termination ? {
    grafana    = juju_application.grafana.name
    prometheus = juju_application.prometheus.name
  } : {}

  model_uuid = local.model_uuid

  application { offer_url = var.external_ca_cert_offer_url }
  application {
    name     = each.value
    endpoint = "receive-ca-cert"
  }
}
