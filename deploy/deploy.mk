# Container image, LocalStack, kind, and their checks. Included by the top Makefile, which
# defines PYTHON, VENV, BIN and STAMP. The shell logic lives in deploy/scripts/*.sh.

# The image every manifest names (deploy/k8s/base/*.yaml, deploy/localstack/compose.yaml);
# tests/system/test_deploy.py keeps them and pyproject's version equal to these.
IMAGE_NAME   := paysys
IMAGE_TAG    := 0.1.0
IMAGE        := $(IMAGE_NAME):$(IMAGE_TAG)
KIND_CLUSTER := payment-system

# `make image` inputs, all optional: see deploy/scripts/image.sh.
BASE_IMAGE ?=
EXTRAS     ?=
WHEELS     ?=

DEPLOY_ENV := IMAGE=$(IMAGE) KIND_CLUSTER=$(KIND_CLUSTER)
IMAGE_ENV  := $(DEPLOY_ENV) BASE_IMAGE='$(BASE_IMAGE)' EXTRAS='$(EXTRAS)' WHEELS='$(WHEELS)'

.PHONY: image kind-up kind-down smoke check-deploy

image: ## build the container image paysys:0.1.0 (BASE_IMAGE=, EXTRAS=, WHEELS= optional)
	@$(IMAGE_ENV) bash deploy/scripts/image.sh

kind-up: ## kind cluster + LocalStack + image + manifests, then print the API URL
	@$(IMAGE_ENV) bash deploy/scripts/kind-up.sh

kind-down: ## delete the kind cluster and stop LocalStack
	@$(DEPLOY_ENV) bash deploy/scripts/kind-down.sh

smoke: $(STAMP) ## build the image and run it for real on a private Docker engine
	@$(DEPLOY_ENV) PYTHON=$(BIN)/python bash deploy/scripts/smoke.sh

check-deploy: $(STAMP) ## offline checks of the Dockerfile, compose, kind and k8s files
	@$(DEPLOY_ENV) PYTHON='$(PYTHON)' PYTEST=$(BIN)/pytest bash deploy/scripts/check-deploy.sh
