# The outputs of self-signed-certificates' module, by name and shape: endpoint-name maps and whole juju_offer
# objects, so module.<name>.offers.certificates.url works unchanged.

output "app_name" {
  description = "Name of the deployed application."
  value       = juju_application.tls-authority.name
}

output "requires" {
  description = "The charm's requires endpoints, by name."
  value = {
    receive-ca-cert = "receive-ca-cert"
    issuer          = "issuer"
    tracing         = "tracing"
  }
}

output "provides" {
  description = "The charm's provides endpoints, by name."
  value = {
    certificates      = "certificates"
    send-ca-cert      = "send-ca-cert"
    metrics-endpoint  = "metrics-endpoint"
    grafana-dashboard = "grafana-dashboard"
  }
}

output "offers" {
  description = "The juju_offer resources (use .url for a cross-model integration)."
  value = {
    send-ca-cert = juju_offer.send_ca_cert
    certificates = juju_offer.certificates
  }
}
