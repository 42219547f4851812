"""Train anything steer trains: python train.py fit --config configs/digiface/zoom_linear.yaml (= steer fit …)."""

from steer.cli.driver import main

if __name__ == "__main__":
    main()
