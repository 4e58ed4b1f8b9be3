from pur_svc.bootstrap import main

raise SystemExit(main())
