output "applications" {
  description = "Names of the COS applications, and of the local CA when internal_tls is set."
  value = {
    alertmanager = juju_application.alertmanager.name
    catalogue    = juju_application.catalogue.name
    grafana      = juju_application.grafana.name
    loki         = juju_application.loki.name
    prometheus   = juju_application.prometheus.name
    traefik      = juju_application.traefik.name
    ca           = var.internal_tls ? module.ca[0].app_name : null
  }
}
