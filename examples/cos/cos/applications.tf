# The COS applications that take part in TLS (cos-lite's applications.tf deploys them through their own modules),
# and the local CA: tls-authority in place of self-signed-certificates, with cos-lite's app name "ca".

locals {
  model_uuid      = var.model.uuid
  tls_termination = var.external_certificates_offer_url != null
}

resource "juju_application" "alertmanager" {
  name       = "alertmanager"
  model_uuid = local.model_uuid
  charm {
    name    = "alertmanager-k8s"
    channel = "dev/edge"
    base    = "ubuntu@26.04"
  }
  units = 1
}

resource "juju_application" "catalogue" {
  name       = "catalogue"
  model_uuid = local.model_uuid
  charm {
    name    = "catalogue-k8s"
    channel = "dev/edge"
    base    = "ubuntu@26.04"
  }
  units = 1
}

resource "juju_application" "grafana" {
  name       = "grafana"
  model_uuid = local.model_uuid
  charm {
    name    = "grafana-k8s"
    channel = "dev/edge"
    base    = "ubuntu@26.04"
  }
  units = 1
}

resource "juju_application" "loki" {
  name       = "loki"
  model_uuid = local.model_uuid
  charm {
    name    = "loki-k8s"
    channel = "dev/edge"
    base    = "ubuntu@26.04"
  }
  units = 1
}

resource "juju_application" "prometheus" {
  name       = "prometheus"
  model_uuid = local.model_uuid
  charm {
    name    = "prometheus-k8s"
    channel = "dev/edge"
    base    = "ubuntu@26.04"
  }
  units = 1
}

resource "juju_application" "traefik" {
  name       = "traefik"
  model_uuid = local.model_uuid
  charm {
    name    = "traefik-k8s"
    channel = "latest/edge"
    base    = "ubuntu@26.04"
  }
  units = 1
  trust = true # Traefik manages its Kubernetes load balancer service.
}

module "ca" {
  source = "../../../terraform"
  count  = var.internal_tls ? 1 : 0

  app_name   = "ca"
  model_uuid = local.model_uuid
  config = {
    ca-common-name = "COS local CA"
    # Only the application that owns a name of this model's Kubernetes services gets it in a certificate.
    bind-cluster-names = "true"
  }
}
