"""The AWS resources of paysys, described once (``model``), applied by ``paysys provision``
(``paysys.ops.provision``) and rendered as a CloudFormation template
(``cloudformation``; ``paysys infra cloudformation > deploy/aws/paysys.yaml``)."""
